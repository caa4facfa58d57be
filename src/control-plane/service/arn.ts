/** ACK's resource ARN of a cluster (RAM's Resource for every cs action on it). */
export function clusterArn(regionId: string, accountId: string, clusterId: string): string {
  return `acs:cs:${regionId}:${accountId}:cluster/${clusterId}`;
}

/** The RAM action of a cs API operation: `cs:<Action>`. */
export function csAction(action: string): string {
  return `cs:${action}`;
}
