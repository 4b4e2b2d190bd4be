// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ModelCid} from "../libraries/ModelCid.sol";

/// @title ModelCidHarness
/// @notice TEST ONLY. Exposes ModelCid for unit tests against src/pipe/cid.ts.
contract ModelCidHarness {
    /// @notice `ModelCid.modelIdOf`.
    function modelIdOf(string calldata cid) external pure returns (bool ok, bytes32 modelId) {
        return ModelCid.modelIdOf(cid);
    }
}
