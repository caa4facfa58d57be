import { runCli } from "./program.js";

// Dependencies' deprecation notices (grpc-js names an IP address as the TLS server name, for one) are
// noise for an operator and would break the rule that a failure is one line on stderr.
process.noDeprecation = true;
process.exitCode = await runCli(process.argv.slice(2));
