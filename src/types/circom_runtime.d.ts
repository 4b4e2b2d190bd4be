/** circom_runtime (the witness calculator snarkjs itself uses) ships no types: the part Sibyl calls. */
declare module "circom_runtime" {
  export function WitnessCalculatorBuilder(
    code: Uint8Array,
    options?: { sanityCheck?: boolean; memorySize?: number },
  ): Promise<{
    calculateWTNSBin(input: Record<string, unknown>, sanityCheck?: boolean): Promise<Uint8Array>;
  }>;
}
