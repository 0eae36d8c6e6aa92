#include "compiler/sema/units.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <string>

namespace allot::sema {
namespace {

constexpr int kMaxWholeDigits = 15;
constexpr int kMaxDigits = 18;

std::uint64_t pow10(int n) {
  std::uint64_t p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

using i128 = __int128;

bool reduce(i128 num, i128 den, model::Rational& out) {
  if (den == 0) return false;
  reduce_fraction(num, den);
  constexpr i128 kMax = INT64_MAX;
  if (num > kMax || num < -kMax || den > kMax) return false;
  out = model::Rational{static_cast<std::int64_t>(num), static_cast<std::int64_t>(den)};
  return true;
}

}  // namespace

void reduce_fraction(__int128& num, __int128& den) {
  if (den < 0) {
    num = -num;
    den = -den;
  }
  i128 a = num < 0 ? -num : num;
  i128 b = den;
  while (b != 0) {
    const i128 t = a % b;
    a = b;
    b = t;
  }
  if (a > 1) {
    num /= a;
    den /= a;
  }
}

NumberError parse_decimal(std::string_view digits, Decimal& out) {
  const std::size_t dot = digits.find('.');
  std::string_view whole = digits.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? std::string_view() : digits.substr(dot + 1);
  while (whole.size() > 1 && whole.front() == '0') whole.remove_prefix(1);
  while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
  if (whole == "0") whole = {};
  if (whole.size() > kMaxWholeDigits) return NumberError::too_large;
  if (whole.size() + fraction.size() > kMaxDigits) return NumberError::too_precise;
  std::uint64_t m = 0;
  for (char c : whole) m = m * 10 + static_cast<std::uint64_t>(c - '0');
  for (char c : fraction) m = m * 10 + static_cast<std::uint64_t>(c - '0');
  out = Decimal{m, static_cast<int>(fraction.size())};
  return NumberError::none;
}

NumberError scale_exact(const Decimal& value, std::int64_t multiplier, std::int64_t limit, std::int64_t& out) {
  // mantissa < 10^18 and multiplier < 2^63: the product fits in 128 bits.
  const i128 product = static_cast<i128>(value.mantissa) * multiplier;
  const i128 divisor = static_cast<i128>(pow10(value.scale));
  if (product % divisor != 0) return NumberError::too_precise;
  const i128 result = product / divisor;
  if (result > limit) return NumberError::too_large;
  out = static_cast<std::int64_t>(result);
  return NumberError::none;
}

model::Rational to_rational(const Decimal& value) {
  model::Rational r;
  reduce(static_cast<i128>(value.mantissa), static_cast<i128>(pow10(value.scale)), r);
  return r;
}

std::optional<std::int64_t> count_unit(std::string_view unit) {
  if (unit.empty()) return 1000;
  if (unit == "m") return 1;
  return std::nullopt;
}

std::optional<std::int64_t> memory_unit(std::string_view unit) {
  if (unit == "MiB") return 1;
  if (unit == "GiB") return 1024;
  if (unit == "TiB") return 1024 * 1024;
  return std::nullopt;
}

std::string memory_unit_help(std::string_view digits, std::string_view unit) {
  static constexpr std::array<std::string_view, 5> kPrefixes{"k", "m", "g", "t", "p"};
  static constexpr std::array<std::string_view, 5> kBinary{"KiB", "MiB", "GiB", "TiB", "PiB"};
  std::string lower;
  for (char c : unit) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  std::string generic = fmt::format("accepted units: `MiB`, `GiB`, `TiB`; e.g. `{}GiB`", digits);
  for (std::size_t k = 0; k < kPrefixes.size(); ++k) {
    const std::string p(kPrefixes[k]);
    if (lower == p + "i" || lower == p + "ib") {  // `Gi`, `gib`: the binary unit, misspelt
      if (k == 0 || k == 4) break;
      return fmt::format("write `{}{}`", digits, kBinary[k]);
    }
    // `TB`, `tb`, `T`: a decimal unit (a bare lower-case letter is not one:
    // `m` is milli).
    const bool bare = unit.size() == 1 && std::isupper(static_cast<unsigned char>(unit[0]));
    if (lower != p + "b" && !bare) continue;
    if (bare && lower != p) continue;
    const int exponent = 3 * static_cast<int>(k + 1);
    const double bytes = std::strtod(std::string(digits).c_str(), nullptr) * std::pow(10.0, exponent);
    const double mib = bytes / (1024.0 * 1024.0);
    std::string equal;
    if (mib >= 10.0 * 1024 * 1024) {
      equal = fmt::format("{:.0f}TiB", mib / (1024.0 * 1024.0));
    } else if (mib >= 1024.0) {
      equal = fmt::format("{:.0f}GiB", mib / 1024.0);
    } else {
      equal = fmt::format("{:.0f}MiB", std::max(1.0, mib));
    }
    const std::string meant =
        k >= 1 && k <= 3 ? fmt::format(", or `{}{}` if you meant binary units", digits, kBinary[k]) : std::string();
    return fmt::format(
        "memory is counted in binary units (`MiB`, `GiB`, `TiB`): `{}{}` is {}10^{} bytes, about `{}`; write `{}`{}",
        digits, unit, digits == "1" ? "" : fmt::format("{} x ", digits), exponent, equal, equal, meant);
  }
  return generic;
}

std::optional<std::int64_t> duration_unit(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "min") return 60'000;
  if (unit == "h") return 3'600'000;
  return std::nullopt;
}

bool rational_add(model::Rational a, model::Rational b, model::Rational& out) {
  return reduce(static_cast<i128>(a.num) * b.den + static_cast<i128>(b.num) * a.den, static_cast<i128>(a.den) * b.den,
                out);
}

bool rational_sub(model::Rational a, model::Rational b, model::Rational& out) {
  return reduce(static_cast<i128>(a.num) * b.den - static_cast<i128>(b.num) * a.den, static_cast<i128>(a.den) * b.den,
                out);
}

bool rational_mul(model::Rational a, model::Rational b, model::Rational& out) {
  return reduce(static_cast<i128>(a.num) * b.num, static_cast<i128>(a.den) * b.den, out);
}

bool rational_div(model::Rational a, model::Rational b, model::Rational& out) {
  if (b.num == 0) return false;
  return reduce(static_cast<i128>(a.num) * b.den, static_cast<i128>(a.den) * b.num, out);
}

}  // namespace allot::sema
