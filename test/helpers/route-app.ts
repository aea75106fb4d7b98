// The stack helpers live in scripts/testing/ (benchmarks use them too, and nothing but tests imports test/).
export * from '../../scripts/testing/route-app.js';
