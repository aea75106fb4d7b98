// The shared synthetic data lives in scripts/testing/ (benchmarks use it too, and nothing but tests imports test/).
export * from '../../scripts/testing/profiles.js';
