// Bundle entry for the worker (workflowsPath / bundleWorkflowCode): every workflow, one line each.
export * from './git-operation/workflow.js';
export * from './pool-maintenance/workflow.js';
export * from './validation-period/workflow.js';
export * from './production-baseline/workflow.js';
export * from './drift-review/workflow.js';
export * from './canary-rollout/workflow.js';
export * from './reconciliation/workflow.js';
export * from './rollback-drill/workflow.js';
export * from './rehome/workflow.js';
export * from './merge-queue/workflow.js';
