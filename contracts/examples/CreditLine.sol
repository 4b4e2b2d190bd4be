// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {InferenceConsumer} from "../InferenceConsumer.sol";
import {IInference} from "../interfaces/IInference.sol";

/// @title CreditLine
/// @notice The credit desk of a lending pool: a borrower applies with their (fixed-point)
/// features, a 3-class classifier puts them in a risk tier (0 = low, 1 = medium, 2 = high), and
/// the pool grants a credit limit by tier. The lending itself is out of scope of this example.
///
/// When to act on which hook (the "act when covered" policy of `InferenceConsumer`):
/// - **request**: the desk declares the most provisional credit it may extend on an unproved
///   tier (`VALUE_AT_RISK`) as the request's value at risk, so only a node that locks enough of
///   its bond for a slash to repay it can answer.
/// - **answered** (seconds): the tier is a node's claim, backed only by the stake the node locked.
///   Grant a *provisional* limit only while that stake covers it (`_isCovered`), so that if the
///   answer is never proved the slash (paid to this contract) repays what was extended on it.
/// - **settled** (after proving): the tier is proved against the model's circuit. Grant the full
///   limit of the tier.
/// - **failed** (expired or slashed): there is no trustworthy tier. Revoke the provisional limit;
///   the borrower may apply again.
contract CreditLine is InferenceConsumer {
    /// @notice Where an application is.
    enum Status {
        None,
        Pending,
        Provisional,
        Approved,
        Failed
    }

    /// @notice One credit application (one inference request).
    /// @dev One slot: 20 + 1 + 1 + 8 bytes.
    struct Application {
        address borrower;
        Status status;
        uint8 tier;
        uint64 appliedAt;
    }

    /// @notice A borrower's limits; the usable limit is the larger of the two.
    struct Limits {
        uint256 approved;
        uint256 provisional;
    }

    /// @notice Number of risk tiers the classifier distinguishes.
    uint8 public constant TIERS = 3;

    /// @notice The classifier this desk asks.
    bytes32 public immutable MODEL_ID;
    /// @notice Most a provisional (unproved) limit can ever be, whatever the tier and stake.
    uint256 public immutable PROVISIONAL_CAP;
    /// @notice The value at risk each application declares, `min(PROVISIONAL_CAP, tier 0 limit)`:
    /// the largest provisional limit, which a slash of the answer then repays in full.
    uint128 public immutable VALUE_AT_RISK;

    /// @dev Final limit per tier (index = tier).
    uint256[TIERS] private _tierLimits;
    mapping(bytes32 requestId => Application) private _applications;
    mapping(address borrower => bytes32 requestId) private _openApplication;
    mapping(address borrower => Limits) private _limits;

    /// @notice A borrower applied; the classifier request is out.
    event CreditApplied(bytes32 indexed requestId, address indexed borrower);
    /// @notice A node answered: a provisional limit was granted on the unproved tier.
    event ProvisionalCreditGranted(
        bytes32 indexed requestId,
        address indexed borrower,
        uint8 tier,
        uint256 limit
    );
    /// @notice The tier was proved: the final limit was granted.
    event CreditApproved(bytes32 indexed requestId, address indexed borrower, uint8 tier, uint256 limit);
    /// @notice The request expired or was slashed: the provisional limit was revoked.
    event CreditRevoked(bytes32 indexed requestId, address indexed borrower, uint8 reason);

    /// @notice The borrower already has an application in flight.
    error CreditLine__ApplicationPending(address borrower, bytes32 requestId);
    /// @notice The request id is not one of this desk's applications.
    error CreditLine__UnknownApplication(bytes32 requestId);
    /// @notice Tier limits must not increase with risk.
    error CreditLine__InvalidTierLimits(uint256[3] limits);

    /// @param inference_ the Sibyl precompile (`Sibyl.INFERENCE`)
    /// @param modelId_ the registered 3-class risk classifier
    /// @param tierLimits final limit for tiers 0, 1, 2 (non-increasing)
    /// @param provisionalCap_ upper bound of any provisional limit
    constructor(
        address inference_,
        bytes32 modelId_,
        uint256[TIERS] memory tierLimits,
        uint256 provisionalCap_
    ) InferenceConsumer(inference_) {
        if (tierLimits[0] < tierLimits[1] || tierLimits[1] < tierLimits[2]) {
            revert CreditLine__InvalidTierLimits(tierLimits);
        }
        MODEL_ID = modelId_;
        _tierLimits = tierLimits;
        PROVISIONAL_CAP = provisionalCap_;
        // Tier 0 has the largest limit (limits do not increase with risk).
        VALUE_AT_RISK = SafeCast.toUint128(_min(provisionalCap_, tierLimits[0]));
    }

    /// @notice Accepts refunds and slashing compensation from the precompile (pool liquidity).
    receive() external payable {}

    /// @notice Applies for credit. `msg.value` pays the model's fee, at least
    /// `feeFor(MODEL_ID, DEFAULT_CALLBACK_GAS_LIMIT)` (all of it is escrowed). The answer is
    /// settled in ZK mode: a provisional limit on the answer, the final one when a proof settles it.
    /// @param features the borrower's features, already quantized to the model's fixed point
    /// @return requestId the classifier request, also the application id
    function applyForCredit(int256[] calldata features) external payable returns (bytes32 requestId) {
        return _apply(features, IInference.Mode.ZK);
    }

    /// @notice Applies for credit in another mode: with `TEE`, an attested enclave answers and
    /// the answer is final in the same transaction (both hooks run there, in order), so the
    /// desk's code is the same as for `ZK`.
    function applyForCreditIn(
        IInference.Mode mode,
        int256[] calldata features
    ) external payable returns (bytes32 requestId) {
        return _apply(features, mode);
    }

    function _apply(int256[] calldata features, IInference.Mode mode) private returns (bytes32 requestId) {
        bytes32 open = _openApplication[msg.sender];
        if (open != bytes32(0)) revert CreditLine__ApplicationPending(msg.sender, open);

        RequestOptions memory options = _defaultOptions();
        options.fee = msg.value;
        options.valueAtRisk = VALUE_AT_RISK;
        options.mode = mode;
        requestId = _requestInference(MODEL_ID, features, options);

        _applications[requestId] = Application({
            borrower: msg.sender,
            status: Status.Pending,
            tier: 0,
            appliedAt: uint64(block.timestamp)
        });
        _openApplication[msg.sender] = requestId;
        emit CreditApplied(requestId, msg.sender);
    }

    /// @notice Pulls refunds and slashed stakes owed to this desk by the precompile into the pool.
    function collectCompensation() external {
        _collectPayments();
    }

    /// @notice The credit the borrower may use now: the larger of the approved and provisional limits.
    function creditLimit(address borrower) external view returns (uint256) {
        Limits memory limits = _limits[borrower];
        return limits.approved > limits.provisional ? limits.approved : limits.provisional;
    }

    /// @notice The application made with `requestId` (reverts for an unknown id).
    function applicationOf(bytes32 requestId) external view returns (Application memory application) {
        application = _applications[requestId];
        if (application.status == Status.None) revert CreditLine__UnknownApplication(requestId);
    }

    /// @notice The borrower's application in flight (zero when none).
    function openApplicationOf(address borrower) external view returns (bytes32) {
        return _openApplication[borrower];
    }

    /// @notice The fee an application must carry: the model's fee for this desk's hook gas.
    function applicationFee() external view returns (uint256) {
        return _feeFor(MODEL_ID, DEFAULT_CALLBACK_GAS_LIMIT);
    }

    /// @notice The final limit of a tier.
    function tierLimit(uint8 tier) public view returns (uint256) {
        return _tierLimits[tier];
    }

    /// @dev Optimistic: grant the provisional limit only if a slash of the node's locked stake would
    /// repay it. With `VALUE_AT_RISK` declared it always is; the check keeps the desk safe if that
    /// declaration or the precompile's economics ever change.
    function _onAnswered(bytes32 requestId, int256[] memory output) internal override {
        Application storage application = _pendingApplication(requestId);
        uint8 tier = _tierOf(output);
        uint256 limit = _min(tierLimit(tier), PROVISIONAL_CAP);
        if (!_isCovered(requestId, limit)) limit = 0;

        application.status = Status.Provisional;
        application.tier = tier;
        address borrower = application.borrower;
        _limits[borrower].provisional = limit;
        emit ProvisionalCreditGranted(requestId, borrower, tier, limit);
    }

    /// @dev Final: the tier is proved, so the full tier limit replaces any earlier one.
    function _onSettled(bytes32 requestId, int256[] memory output) internal override {
        Application storage application = _pendingApplication(requestId);
        uint8 tier = _tierOf(output);
        uint256 limit = tierLimit(tier);

        application.status = Status.Approved;
        application.tier = tier;
        address borrower = application.borrower;
        _limits[borrower] = Limits({approved: limit, provisional: 0});
        delete _openApplication[borrower];
        emit CreditApproved(requestId, borrower, tier, limit);
    }

    /// @dev No trustworthy tier: drop the provisional limit (an earlier approved limit stays).
    function _onFailed(bytes32 requestId, uint8 reason) internal override {
        Application storage application = _pendingApplication(requestId);
        application.status = Status.Failed;
        address borrower = application.borrower;
        _limits[borrower].provisional = 0;
        delete _openApplication[borrower];
        emit CreditRevoked(requestId, borrower, reason);
    }

    /// @dev The application still waiting for a final outcome.
    function _pendingApplication(bytes32 requestId) private view returns (Application storage application) {
        application = _applications[requestId];
        Status status = application.status;
        if (status != Status.Pending && status != Status.Provisional) {
            revert CreditLine__UnknownApplication(requestId);
        }
    }

    /// @dev The class index: the output itself when the model ends in argmax (length 1), otherwise
    /// the first maximal logit. A class the desk does not know is treated as the riskiest tier.
    function _tierOf(int256[] memory output) private pure returns (uint8) {
        uint256 best;
        if (output.length == 1) {
            int256 class = output[0];
            return class >= 0 && class < int256(uint256(TIERS)) ? uint8(uint256(class)) : TIERS - 1;
        }
        for (uint256 i = 1; i < output.length; ++i) {
            if (output[i] > output[best]) best = i;
        }
        return best < TIERS ? uint8(best) : TIERS - 1;
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }
}
