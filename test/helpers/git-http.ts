// The smart-HTTP git servers live in scripts/testing/ (the concurrent-push benchmark uses one too).
export * from '../../scripts/testing/git-http.js';
