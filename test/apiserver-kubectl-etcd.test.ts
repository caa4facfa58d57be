import { EtcdStore } from "../src/storage/etcd-store.js";
import { startEtcd } from "./support/etcd.js";
import { kubectlSuite } from "./apiserver-kubectl-suite.js";

kubectlSuite("a real etcd", async () => {
  const etcd = await startEtcd();
  const store = new EtcdStore({ endpoints: etcd.endpoints });
  return {
    store,
    checkName: "etcd",
    async close() {
      await store.close();
      await etcd.stop();
    },
  };
});
