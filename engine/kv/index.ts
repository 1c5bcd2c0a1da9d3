// The KV engine's public surface: what the graph runner and the completion service import.

export * from './geometry';
export * from './fp16';
export * from './pack';
export * from './quantize';
export * from './budget';
export * from './scoring';
export * from './select';
export * from './policy';
export * from './balancer';
export * from './store';
export * from './reference-attention';
export { createPolicy, POLICY_NAMES } from './policies/index';
export type { PolicyOptions } from './policies/index';
