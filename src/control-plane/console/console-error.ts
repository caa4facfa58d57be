import { AtrestError, type ErrorCode } from "../../common/errors.js";

/**
 * What the console's JSON API answers when a call fails: the upstream service's own code (e.g.
 * `Rejected.KeyInUse`, `Forbidden.RAM`) and message, so the page can show the refusal as the API gave
 * it. The one table from errors to the console's HTTP answers. Messages never carry a secret: they
 * come from the services, whose messages never do, or from the console's own checks.
 */
export interface ConsoleErrorBody {
  readonly code: string;
  readonly message: string;
  readonly requestId?: string;
}

const STATUS: Readonly<Record<ErrorCode, number>> = {
  "invalid-argument": 400,
  "not-found": 404,
  "already-exists": 409,
  conflict: 409,
  "failed-precondition": 409,
  unauthenticated: 401,
  "permission-denied": 403,
  "resource-exhausted": 429,
  unavailable: 503,
  "deadline-exceeded": 504,
  "data-corrupt": 500,
  gone: 410,
  unimplemented: 501,
  internal: 500,
};

export function consoleError(err: unknown): { status: number; body: ConsoleErrorBody } {
  if (err instanceof AtrestError) {
    // The service's own code: the KMS's (kmsCode), an Alibaba code of the cs/identity services
    // (acsCode), or the console's (code).
    const upstream = err.details["kmsCode"] ?? err.details["acsCode"] ?? err.details["code"];
    const httpStatus = err.details["httpStatus"];
    const requestId = err.details["requestId"];
    return {
      status: typeof httpStatus === "number" && httpStatus >= 400 ? httpStatus : STATUS[err.code],
      body: {
        code: typeof upstream === "string" ? upstream : err.code,
        // An internal failure's message may name internals: the page gets a plain sentence.
        message:
          err.code === "internal" && upstream === undefined
            ? "the request failed inside the console"
            : err.message,
        ...(typeof requestId === "string" ? { requestId } : {}),
      },
    };
  }
  return { status: 500, body: { code: "internal", message: "the console failed to handle this request" } };
}

export function consoleRefusal(code: ErrorCode, consoleCode: string, message: string): AtrestError {
  return new AtrestError(code, message, { details: { code: consoleCode } });
}
