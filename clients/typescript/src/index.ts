export {
  type Artifact,
  type ArtifactQuery,
  type ArtifactsApi,
  type CancelledJob,
  type ContentOptions,
  IgClient,
  type IgClientOptions,
  type Job,
  type JobQuery,
  type JobRequest,
  type JobsApi,
  type JobStatus,
  type RequestOptions,
  type SubmitOptions,
  type TagEdit,
  type UploadBody,
  type UploadOptions,
  type WaitOptions,
} from "./client.js";
export {
  type CallbackArtifact,
  type CallbackEvent,
  type CallbackHeaders,
  type CallbackJob,
  type VerifyOptions,
  verifyCallback,
} from "./callbacks.js";
export {
  type FieldProblem,
  IgApiError,
  IgCallbackError,
  IgError,
  IgIntegrityError,
  IgJobFailedError,
  IgNetworkError,
  IgTimeoutError,
  type Problem,
} from "./errors.js";
export { DEFAULT_RETRY, type RetryPolicy } from "./retry.js";
export type { components, paths } from "./schema.js";
