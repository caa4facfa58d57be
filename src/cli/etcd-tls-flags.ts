import type { Command } from "commander";

/** kube-apiserver's etcd client TLS flags, as every command that reads etcd takes them. */
export interface EtcdTlsFlags {
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
}

export function addEtcdTlsOptions(cmd: Command): Command {
  return cmd
    .option(
      "--etcd-cafile <file>",
      "CA (PEM) that signed the etcd servers' certificates (https:// endpoints)",
    )
    .option("--etcd-certfile <file>", "client certificate (PEM) for etcd, with --etcd-keyfile")
    .option("--etcd-keyfile <file>", "client key (PEM) for etcd");
}

/** The flags given, without the absent ones (exactOptionalPropertyTypes). */
export function etcdTlsFrom(flags: EtcdTlsFlags): EtcdTlsFlags {
  return {
    ...(flags.etcdCafile === undefined ? {} : { etcdCafile: flags.etcdCafile }),
    ...(flags.etcdCertfile === undefined ? {} : { etcdCertfile: flags.etcdCertfile }),
    ...(flags.etcdKeyfile === undefined ? {} : { etcdKeyfile: flags.etcdKeyfile }),
  };
}
