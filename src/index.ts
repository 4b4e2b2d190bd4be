/**
 * hardhat-sibyl's library (`import … from "hardhat-sibyl/lib"`): what tasks, the demo, the
 * node and the tests call. Everything not exported here is internal and may change.
 * The Hardhat plugin is the package's default export (`hardhat-sibyl`); testing helpers
 * are in `hardhat-sibyl/testing`.
 */

// errors: every deliberate error is a SibylError with a hint and a chained cause
export {
  SibylError,
  BuildError,
  ChainError,
  FixedPointRangeError,
  InputShapeError,
  ModelFormatError,
  ProofError,
} from "./errors.js";
export { ModelMismatchError } from "./chain/verify.js";
export { PolicyError } from "./node/policy.js";
export { RevertError, decodeRevert, explainRevert, type DecodedRevert } from "./protocol/revert.js";

// protocol facts shared with the contracts
export { Finality, Mode, RequestState } from "./protocol/state.js";
export * from "./protocol/constants.js";

// connecting to Hardhat
export { type SibylEnv, sibylEnv } from "./env.js";
export { type Logger, consoleLogger, silentLogger } from "./log.js";

// models: load, quantize, build
export { loadModel } from "./model/load.js";
export { type ModelFile, loadModelFile } from "./model/schema.js";
export { quantizeInput, quantizeModel, dequantize } from "./model/quantize.js";
export { runQuantized, type QuantizedModel } from "./runtime/fixed.js";
export { buildModel, type BuildOptions, type BuildReport } from "./pipeline/buildModel.js";
export { type ModelArtifacts, loadArtifacts } from "./pipeline/artifacts.js";
export { builtModelOf } from "./pipeline/finalizeCeremony.js";
// batch settlement (docs/batching.md)
export {
  buildBatch,
  loadBatchArtifacts,
  type BatchArtifacts,
  type BatchBuildReport,
} from "./pipeline/buildBatch.js";
export { proveBatch } from "./pipeline/batchProver.js";
export { type BatchEntry, batchLayout, batchPublicSignals, sortForBatch } from "./circuit/batch.js";

// chain: install, register, verify
export { INFERENCE_ADDRESS, installPrecompile } from "./chain/install.js";
export { deploySibyl, type Deployed, type DeployOptions } from "./chain/deploy.js";
export { connectSibyl } from "./chain/connect.js";
export {
  registerModel,
  type ModelTerms,
  type RegisteredModel,
  type RegisterOptions,
} from "./chain/models.js";
export { verifyModel } from "./chain/verify.js";
export {
  setUpStack,
  setUpBatches,
  startNode,
  buildModels,
  type SibylStack,
  type StackModel,
} from "./chain/stack.js";
export {
  batchVerifierOf,
  checkedBatchVerifier,
  registerBatchVerifier,
  type RegisteredBatchVerifier,
} from "./chain/batch.js";

// requesting inference
export {
  feeFor,
  requestIdFrom,
  requestInference,
  waitForState,
  type RequestOptions,
  type SentRequest,
} from "./client/client.js";
export { explainRequest, type RequestStatus } from "./client/status.js";

// the trust-gap dashboard (sibyl:dashboard): a collector of the precompile's events and a local live page
export { startDashboard, type Dashboard, type DashboardOptions } from "./dashboard/start.js";
export {
  DashboardCollector,
  FOLLOWED_EVENTS,
  type ChangeKind,
  type CollectorOptions,
} from "./dashboard/collector.js";
export {
  DEFAULT_DASHBOARD_PORT,
  startDashboardServer,
  type DashboardServer,
  type DashboardServerOptions,
} from "./dashboard/server.js";
export type {
  DashboardSnapshot,
  DashboardStatus,
  NodeView,
  RequestView,
  RpcStatus,
} from "./dashboard/snapshot.js";
export type { Phase } from "./dashboard/model.js";
export { dashboardPage } from "./dashboard/page.js";

// the node
export { InferenceNode, type NodeOptions, type PreparedEvent, type ServedModel } from "./node/node.js";
export type { PreparedSync, SyncCall } from "./node/sync.js";

// proving: pluggable provers, in this process or on workers behind a Redis job queue (BullMQ)
export {
  SnarkjsProver,
  inProcessProvers,
  verifyProof,
  type CircuitFiles,
  type ProofResult,
  type Prover,
  type ProverFactory,
} from "./zk/prover.js";
export {
  DEFAULT_QUEUE_CONCURRENCY,
  QueueProver,
  QueueProvers,
  queueProvers,
  type ProvedThroughQueue,
  type QueuedProof,
  type QueueProversEvents,
  type QueueProversOptions,
} from "./queue/client.js";
export {
  DEFAULT_LOCK_MS,
  ProverWorker,
  type ProverWorkerEvents,
  type ProverWorkerOptions,
} from "./queue/worker.js";
export { DEFAULT_QUEUE_PREFIX, proofJobId, queueNameOf, type ProofJobData } from "./queue/jobs.js";
export { batchCircuit, circuitsOf, modelCircuit } from "./queue/circuits.js";
export { DEFAULT_REDIS_URL, RedisUnavailableError, checkRedis } from "./queue/redis.js";

// synchronous calls: the pre-execution layer, in-process or as a JSON-RPC proxy, and model CIDs
export { PipeLayer, PIPE_METHODS, type PipeOptions, type PreExecution } from "./pipe/layer.js";
export { startInProcessPipe } from "./pipe/inProcess.js";
export { startPipeProxy, type PipeProxyOptions } from "./pipe/proxy.js";
export { httpUpstream, RpcError, type RpcCall, type RpcServer } from "./pipe/rpcServer.js";
export { modelCid, modelIdFromCid } from "./pipe/cid.js";
export { callKeyOf, type SimulatedCall } from "./pipe/simulate.js";

// TEE mode: attestation documents, enclaves, registration and signed answers
export {
  AWS_NITRO_ROOT_SHA256,
  AttestationError,
  parseAttestation,
  verifyAttestation,
  type AttestationDocument,
  type AttestationPolicy,
} from "./tee/attestation.js";
export {
  EnclaveError,
  type Enclave,
  type TeeAnswer,
  type TeeAnswerRequest,
  enclaveMeasurement,
} from "./tee/enclave.js";
export { LocalEnclaveProcess, type LocalEnclaveProcessOptions } from "./tee/localEnclaveProcess.js";
export { type DevCa, loadOrCreateDevCa } from "./tee/devCa.js";
export {
  TEE_ANSWER_TYPES,
  TeeAnswerError,
  recoverTeeSigner,
  teeAnswerDigest,
  inputWords,
  outputWords,
  wordsHash,
} from "./tee/answer.js";
export {
  registerEnclave,
  verifierOf,
  type EnclaveRegistration,
  type RegistrationStep,
} from "./tee/register.js";
export {
  allowMeasurement,
  enclaveRegistryOf,
  ensureEnclaveRegistry,
  DEFAULT_MAX_ANSWER_AGE,
  DEFAULT_MAX_DOCUMENT_AGE,
} from "./chain/enclaves.js";
export { startEnclaves, type StartedEnclave, type StartedEnclaves } from "./chain/stack.js";
export type { AttestedEvent } from "./node/tee.js";

// Prometheus metrics for the node and the prover workers, and the endpoint that serves them
export { NodeMetrics, REQUEST_STATES, ERROR_KINDS, type NodeMetricsOptions } from "./metrics/nodeMetrics.js";
export { WorkerMetrics, type WorkerMetricsOptions } from "./metrics/workerMetrics.js";
export {
  METRICS_PATH,
  serveMetrics,
  type MetricsServer,
  type MetricsServerOptions,
} from "./metrics/server.js";
export type {
  BondReader,
  ChainSource,
  QueueDepth,
  QueueDepthSource,
  RedisStatus,
  RedisStatusSource,
  WorkerFailedEvent,
  WorkerProvedEvent,
  WorkerStalledEvent,
} from "./metrics/sources.js";
