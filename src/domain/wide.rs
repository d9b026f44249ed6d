//! A 512-bit unsigned integer with just the arithmetic exact money needs: products of
//! `Decimal` mantissas (96 bits each), powers of ten, sums, and one division with remainder.
//!
//! Why not a bignum crate: this is the whole of it, it never allocates, and every operation
//! is checked (`None` on overflow), so a caller turns overflow into a named error. Pure.

use std::cmp::Ordering;

const LIMBS: usize = 8;

/// An unsigned integer below 2^512, little-endian 64-bit limbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct U512([u64; LIMBS]);

impl U512 {
    pub(crate) const ZERO: U512 = U512([0; LIMBS]);
    pub(crate) const ONE: U512 = U512([1, 0, 0, 0, 0, 0, 0, 0]);

    pub(crate) fn from_u128(value: u128) -> U512 {
        let mut limbs = [0; LIMBS];
        limbs[0] = value as u64;
        limbs[1] = (value >> 64) as u64;
        U512(limbs)
    }

    /// The value, when it fits in 128 bits.
    pub(crate) fn to_u128(self) -> Option<u128> {
        self.0[2..].iter().all(|l| *l == 0).then(|| u128::from(self.0[0]) | (u128::from(self.0[1]) << 64))
    }

    pub(crate) fn is_zero(self) -> bool {
        self == U512::ZERO
    }

    /// `self × other`; `None` when the product needs more than 512 bits.
    pub(crate) fn checked_mul(self, other: U512) -> Option<U512> {
        let mut out = [0u64; LIMBS];
        for (i, &a) in self.0.iter().enumerate().filter(|(_, a)| **a != 0) {
            let mut carry = 0u128;
            for (j, &b) in other.0.iter().enumerate() {
                let Some(slot) = out.get_mut(i + j) else {
                    if b != 0 || carry != 0 {
                        return None;
                    }
                    continue;
                };
                let t = u128::from(a) * u128::from(b) + u128::from(*slot) + carry;
                *slot = t as u64;
                carry = t >> 64;
            }
            if carry != 0 {
                return None;
            }
        }
        Some(U512(out))
    }

    /// `self + other`; `None` on overflow.
    pub(crate) fn checked_add(self, other: U512) -> Option<U512> {
        self.chained(other, |a, b, carry| {
            let (sum, c1) = a.overflowing_add(b);
            let (sum, c2) = sum.overflowing_add(u64::from(carry));
            (sum, c1 || c2)
        })
    }

    /// `self − other`; `None` when `other > self`.
    pub(crate) fn checked_sub(self, other: U512) -> Option<U512> {
        self.chained(other, |a, b, borrow| {
            let (difference, b1) = a.overflowing_sub(b);
            let (difference, b2) = difference.overflowing_sub(u64::from(borrow));
            (difference, b1 || b2)
        })
    }

    /// Limb by limb from the lowest, passing a carry (or borrow) along; `None` when one is
    /// left at the top.
    fn chained(self, other: U512, step: impl Fn(u64, u64, bool) -> (u64, bool)) -> Option<U512> {
        let mut out = [0u64; LIMBS];
        let mut carry = false;
        for (slot, (a, b)) in out.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            (*slot, carry) = step(*a, *b, carry);
        }
        (!carry).then_some(U512(out))
    }

    /// `10^exponent`; `None` above 2^512 (exponent > 154).
    pub(crate) fn pow10(exponent: u32) -> Option<U512> {
        let ten = U512::from_u128(10);
        (0..exponent).try_fold(U512::ONE, |acc, _| acc.checked_mul(ten))
    }

    /// `self × 10^exponent`; `None` on overflow.
    pub(crate) fn checked_scale_up(self, exponent: u32) -> Option<U512> {
        self.checked_mul(U512::pow10(exponent)?)
    }

    fn bit(self, index: usize) -> bool {
        (self.0[index / 64] >> (index % 64)) & 1 == 1
    }

    fn bits(self) -> usize {
        self.0.iter().rposition(|l| *l != 0).map_or(0, |top| top * 64 + 64 - self.0[top].leading_zeros() as usize)
    }

    /// `self × 2 + bit`, dropping what leaves the top (callers keep values below 2^511).
    fn shifted_in(self, bit: bool) -> U512 {
        let mut out = [0u64; LIMBS];
        let mut carry = u64::from(bit);
        for (slot, limb) in out.iter_mut().zip(self.0.iter()) {
            *slot = (limb << 1) | carry;
            carry = limb >> 63;
        }
        U512(out)
    }

    /// `(self ÷ divisor, self mod divisor)`; `None` for a zero divisor. Native 128-bit
    /// division when both fit (nearly every bill), else binary long division.
    pub(crate) fn div_rem(self, divisor: U512) -> Option<(U512, U512)> {
        if divisor.is_zero() {
            return None;
        }
        if let (Some(n), Some(d)) = (self.to_u128(), divisor.to_u128()) {
            return Some((U512::from_u128(n / d), U512::from_u128(n % d)));
        }
        let (mut quotient, mut remainder) = ([0u64; LIMBS], U512::ZERO);
        for index in (0..self.bits()).rev() {
            remainder = remainder.shifted_in(self.bit(index));
            if let Some(smaller) = remainder.checked_sub(divisor) {
                remainder = smaller;
                quotient[index / 64] |= 1 << (index % 64);
            }
        }
        Some((U512(quotient), remainder))
    }
}

impl PartialOrd for U512 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for U512 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn wide(value: u128) -> U512 {
        U512::from_u128(value)
    }

    #[test]
    fn products_past_128_bits_divide_back_exactly() {
        let a = wide(u128::MAX);
        let b = wide(u128::MAX - 12_345);
        let product = a.checked_mul(b).expect("256 bits fit");
        assert_eq!(product.to_u128(), None, "the product needs more than 128 bits");
        assert_eq!(product.div_rem(b), Some((a, U512::ZERO)));
        let plus_seven = product.checked_add(wide(7)).expect("fits");
        assert_eq!(plus_seven.div_rem(a), Some((b, wide(7))));
    }

    #[test]
    fn overflow_and_zero_division_are_none() {
        let top = U512::pow10(154).expect("10^154 < 2^512");
        assert_eq!(U512::pow10(155), None, "10^155 > 2^512");
        assert_eq!(top.checked_mul(wide(100)), None);
        assert_eq!(U512([u64::MAX; LIMBS]).checked_add(U512::ONE), None);
        assert_eq!(U512::ZERO.checked_sub(U512::ONE), None);
        assert_eq!(top.div_rem(U512::ZERO), None);
    }

    #[test]
    fn ordering_compares_from_the_top_limb() {
        let big = U512::pow10(40).expect("fits");
        assert!(big > wide(u128::MAX));
        assert!(wide(3) < wide(4));
        assert_eq!(big.cmp(&big), Ordering::Equal);
    }

    proptest! {
        #[test]
        fn division_agrees_with_native_arithmetic(a in any::<u128>(), b in 1u128.., c in any::<u64>()) {
            // (a × 2^64 + c) needs up to 192 bits; the long-division path must agree with
            // what native 128-bit pieces say about it.
            let n = wide(a).checked_mul(wide(1u128 << 64)).and_then(|x| x.checked_add(wide(u128::from(c))));
            let n = n.expect("192 bits fit");
            let (q, r) = n.div_rem(wide(b)).expect("b > 0");
            prop_assert!(r < wide(b));
            prop_assert_eq!(q.checked_mul(wide(b)).and_then(|x| x.checked_add(r)), Some(n));
        }
    }
}
