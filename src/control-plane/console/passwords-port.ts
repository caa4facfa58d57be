import type { ConsoleSignInRequest, ConsoleSignInResult } from "../../iam/index.js";

/**
 * What the console needs for password sign-in (a port belongs to its consumer): the identity
 * service's console sign-in, which checks the password and issues the user's own session credential
 * (src/iam/console-signin.ts), and the end of that credential when the console session ends. Without
 * it (a console beside a bare KMS) only access key sign-in is offered.
 */
export interface ConsolePasswords {
  readonly accountId: string;
  signIn(req: ConsoleSignInRequest): Promise<ConsoleSignInResult>;
  endSession(accessKeyId: string): Promise<void>;
}
