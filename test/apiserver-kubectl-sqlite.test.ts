import { join } from "node:path";
import { SqliteStore } from "../src/storage/sqlite-store.js";
import { kubectlSuite } from "./apiserver-kubectl-suite.js";

kubectlSuite("embedded SQLite", (dir) => {
  const store = new SqliteStore({ path: join(dir, "state.db") });
  return Promise.resolve({ store, close: () => store.close() });
});
