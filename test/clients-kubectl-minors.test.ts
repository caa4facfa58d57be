/**
 * The kubectl suite with the other kubectl minors users bring (1.29, 1.31, 1.33), each run directly
 * (`kubectl.1.NN` beside the dispatcher, which would pick 1.32 from the server's /version).
 */
import { MemoryStore } from "../src/storage/memory-store.js";
import { kubectlSuite } from "./apiserver-kubectl-suite.js";
import { kubectlMinor } from "./support/kubectl.js";

for (const minor of [29, 31, 33])
  kubectlSuite(
    "the memory store",
    () => {
      const store = new MemoryStore();
      return Promise.resolve({ store, close: () => store.close() });
    },
    { kubectl: kubectlMinor(minor) },
  );
