export interface ClusterView {
  clusterId: string;
  name: string;
  regionId: string;
  state: string;
  kmsKeyId: string;
  encryptionEnabled: boolean;
  failureReason: string;
  currentTaskId?: string;
  createdAt: number;
  updatedAt: number;
  lastChangeAt: number;
  coolDownUntil: number;
}

export interface TaskView {
  taskId: string;
  type: string;
  state: string;
  currentStage: string;
  stages: Array<{ name: string; state: string; startedAt?: number; finishedAt?: number; message?: string }>;
  error?: { code: string; message: string };
  change: { disableEncryption: boolean; kmsKeyId?: string };
  progress?: {
    total: number;
    done: number;
    rewritten: number;
    remaining: number;
    ratePerSecond: number;
    etaSeconds: number | null;
  };
}
