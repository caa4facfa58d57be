import { MemoryStore } from "../src/storage/memory-store.js";
import { kubectlSuite } from "./apiserver-kubectl-suite.js";

kubectlSuite("the memory store", async () => {
  const store = new MemoryStore();
  return { store, close: () => store.close() };
});
