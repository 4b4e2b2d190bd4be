/** Request states as the precompile numbers them (IInference.RequestState). */
export enum RequestState {
  None = 0,
  Requested = 1,
  Answered = 2,
  Settled = 3,
  Slashed = 4,
  Expired = 5,
}
