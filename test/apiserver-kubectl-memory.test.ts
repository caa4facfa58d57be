import { MemoryStore } from "../src/storage/memory-store.js";
import { kubectlSuite } from "./apiserver-kubectl-suite.js";

kubectlSuite("the memory store", () => {
  const store = new MemoryStore();
  return Promise.resolve({ store, close: () => store.close() });
});
