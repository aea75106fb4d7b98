export * from './queryable.js';
export * from './sandboxes.js';
export * from './workspaces.js';
export * from './operation-log.js';
