import { randomBytes as nodeRandomBytes, randomUUID as nodeRandomUUID } from "node:crypto";

/** Randomness is injected so tests can fix nonces and ids (DESIGN.md §8). */
export interface Random {
  bytes(length: number): Buffer;
  uuid(): string;
}

export const systemRandom: Random = {
  bytes: (length) => nodeRandomBytes(length),
  uuid: () => nodeRandomUUID(),
};
