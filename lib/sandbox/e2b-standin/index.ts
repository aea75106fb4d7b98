export {
  startE2bStandin,
  ENVD_PORT,
  type E2bStandin,
  type E2bStandinOptions,
  type StandinFaults,
  type StandinApiFault,
  type StandinRoute,
  type StandinSandboxInfo,
} from './server.js';
