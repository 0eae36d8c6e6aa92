// Internal to sema: names for the codes this stage reports (entries of
// compiler/base/codes.def; docs/diagnostics.md explains each).
#pragma once

#include "compiler/base/codes.h"

namespace allot::sema::codes {

inline constexpr const char* kUnknownKind = code::E0101;
inline constexpr const char* kInvalidName = code::E0102;
inline constexpr const char* kMisplaced = code::E0103;
inline constexpr const char* kDuplicateName = code::E0104;
inline constexpr const char* kUnknownProperty = code::E0105;
inline constexpr const char* kDuplicateProperty = code::E0106;
inline constexpr const char* kMissingProperty = code::E0107;
inline constexpr const char* kWrongValue = code::E0108;
inline constexpr const char* kBadUnit = code::E0109;
inline constexpr const char* kOutOfRange = code::E0110;
inline constexpr const char* kTooPrecise = code::E0111;
inline constexpr const char* kTooLarge = code::E0112;
inline constexpr const char* kUnknownEnum = code::E0113;
inline constexpr const char* kUnknownPool = code::E0114;
inline constexpr const char* kUnknownFlavor = code::E0115;
inline constexpr const char* kUnknownQuota = code::E0116;
inline constexpr const char* kUnknownRole = code::E0117;
inline constexpr const char* kUnknownPriority = code::E0118;
inline constexpr const char* kUnknownResource = code::E0119;
inline constexpr const char* kUnknownScope = code::E0120;
inline constexpr const char* kTypeMismatch = code::E0121;
inline constexpr const char* kNoLimit = code::E0122;
inline constexpr const char* kBadCall = code::E0123;
inline constexpr const char* kTargetNotAllowed = code::E0124;
inline constexpr const char* kWrongForm = code::E0125;
inline constexpr const char* kInvertedRange = code::E0126;
inline constexpr const char* kConflict = code::E0127;
inline constexpr const char* kNotHosted = code::E0128;
inline constexpr const char* kPreemptOrder = code::E0129;
inline constexpr const char* kDivisionByZero = code::E0130;
inline constexpr const char* kInvalidDate = code::E0131;
inline constexpr const char* kLendWithoutGuarantee = code::E0132;
inline constexpr const char* kLendAboveGuarantee = code::E0133;
inline constexpr const char* kTermNotOffered = code::E0134;
inline constexpr const char* kWeightOutOfRange = code::E0137;
inline constexpr const char* kFairStrategies = code::E0138;
inline constexpr const char* kBorrowWithinUnderFairSharing = code::E0139;
inline constexpr const char* kWeightWithoutFairSharing = code::W0111;
inline constexpr const char* kInferenceOnShared = code::W0101;
inline constexpr const char* kUnusedRole = code::W0102;
inline constexpr const char* kUnusedPriority = code::W0103;
inline constexpr const char* kNeverReclaims = code::W0104;
inline constexpr const char* kDeadPreempts = code::W0107;
inline constexpr const char* kDeadChildPreemption = code::W0108;
inline constexpr const char* kUnbindingLimit = code::W0109;
inline constexpr const char* kEmptyRole = code::W0110;

}  // namespace allot::sema::codes
