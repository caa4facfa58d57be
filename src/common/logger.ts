import { pino, destination, stdTimeFunctions, type Logger, type DestinationStream } from "pino";

export type { Logger };

/**
 * JSON-lines logs with constant messages and data in fields (STYLE.md habit 10). Never pass plaintext,
 * key material or seeds; key ids go in hashed (`keyIdHash`).
 */
export function createLogger(
  options: { name: string; level?: string; destination?: DestinationStream } = { name: "atrest" },
): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? process.env.ATREST_LOG_LEVEL ?? "info",
      base: { component: options.name },
      timestamp: stdTimeFunctions.isoTime,
      redact: {
        paths: [
          "plaintext",
          "*.plaintext",
          "secret",
          "*.secret",
          "accessKeySecret",
          "*.accessKeySecret",
          "key",
          "dek",
          "seed",
        ],
        censor: "[REDACTED]",
      },
    },
    options.destination ?? destination({ fd: 2, sync: false }),
  );
}

/** A logger that writes nowhere, for unit tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
