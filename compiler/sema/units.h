// Exact decimal numbers and unit conversion for property values. Kept apart
// from the analyzer so the arithmetic can be tested on its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "compiler/sema/model.h"

namespace allot::sema {

// The largest amount any property may hold, in base units (milli-units or
// MiB). 10^12 leaves room to sum 10^6 such amounts in 64 bits, so later
// stages never overflow when they add up a tree.
inline constexpr std::int64_t kMaxAmount = 1'000'000'000'000;

// A number as written: value = mantissa / 10^scale, trailing fraction zeros
// removed so `scale` is minimal.
struct Decimal {
  std::uint64_t mantissa = 0;
  int scale = 0;
};

enum class NumberError { none, too_large, too_precise };

// Parses digits such as `128` or `0.50`. Fails with too_large when the whole
// part has more than 15 digits and with too_precise when the number has more
// than 18 significant digits in all; either way the result never overflows.
NumberError parse_decimal(std::string_view digits, Decimal& out);

// `value * multiplier`, which must be a whole number not above `limit`.
NumberError scale_exact(const Decimal& value, std::int64_t multiplier, std::int64_t limit, std::int64_t& out);

// The exact rational of a decimal, reduced.
model::Rational to_rational(const Decimal& value);

// Multiplier from a unit suffix to a base unit, or nullopt when the suffix
// does not belong to that family. Count resources: `` (whole) and `m`;
// memory: `MiB`, `GiB`, `TiB`; durations (to ms): `ms`, `s`, `min`, `h`.
std::optional<std::int64_t> count_unit(std::string_view unit);
std::optional<std::int64_t> memory_unit(std::string_view unit);
std::optional<std::int64_t> duration_unit(std::string_view unit);
// The help for a memory amount written in a unit that is not `MiB`, `GiB` or
// `TiB`. Decimal (SI) units are not accepted: `1TB` is 10^12 bytes, which is
// no whole number of MiB, and amounts are exact. So the help gives the equal
// binary amount (`1TB` is about `931GiB`), and the binary unit the author may
// have meant (`1TiB`); `Gi`-style units get the same number in `GiB`.
std::string memory_unit_help(std::string_view digits, std::string_view unit);

// Brings num/den to lowest terms with a positive denominator, in 128 bits so
// that products of two 64-bit rationals fit. `den` must not be 0.
void reduce_fraction(__int128& num, __int128& den);

// Checked rational arithmetic; false on overflow or division by zero.
bool rational_add(model::Rational a, model::Rational b, model::Rational& out);
bool rational_sub(model::Rational a, model::Rational b, model::Rational& out);
bool rational_mul(model::Rational a, model::Rational b, model::Rational& out);
bool rational_div(model::Rational a, model::Rational b, model::Rational& out);

}  // namespace allot::sema
