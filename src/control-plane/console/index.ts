export {
  registerConsole,
  CONSOLE_PREFIX,
  DEFAULT_CONSOLE_ASSETS_DIR,
  type ConsoleDeps,
  type RegisteredConsole,
} from "./register-console.js";
export { SESSION_COOKIE } from "./api-context.js";
export { SessionStore, type ConsoleSession, type ConsoleIdentity } from "./session-store.js";
export type {
  ConsoleCaller,
  ConsoleClusters,
  ConsoleClusterView,
  ConsoleTaskView,
  ConsoleIdentityResolver,
} from "./clusters-port.js";
export { consoleMount, consoleUrlOf } from "./mount.js";
export type { UpstreamEndpoints } from "./upstream.js";
