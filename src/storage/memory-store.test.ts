import { MemoryStore } from "./memory-store.js";
import { registerStoreConformance } from "../../test/support/store-conformance.js";

registerStoreConformance("memory", () => Promise.resolve({ store: new MemoryStore() }));
