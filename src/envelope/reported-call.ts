/** The event a KMS provider's `kmsCall` hook receives (for metrics): which plugin method, and whether it answered. */
export interface KmsCallEvent<M extends string> {
  readonly providerName: string;
  readonly method: M;
  readonly ok: boolean;
}

/** Runs one plugin call and reports its outcome to `report` (KMS v1 and v2 providers alike). */
export async function reportedCall<M extends string, T>(
  report: ((event: KmsCallEvent<M>) => void) | undefined,
  providerName: string,
  method: M,
  call: () => Promise<T>,
): Promise<T> {
  let result: T;
  try {
    result = await call();
  } catch (err) {
    report?.({ providerName, method, ok: false });
    throw err;
  }
  report?.({ providerName, method, ok: true });
  return result;
}
