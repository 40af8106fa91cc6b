//! Shared test helpers.
#![allow(dead_code)]

use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};

pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// Replays fixed bytes, then zeros: stands in for the card's or host's RNG in known-answer
/// tests.
pub struct FixedRng(pub Vec<u8>);

impl TryRng for FixedRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for d in dst.iter_mut() {
            *d = if self.0.is_empty() {
                0
            } else {
                self.0.remove(0)
            };
        }
        Ok(())
    }
}

impl TryCryptoRng for FixedRng {}

/// A counter-based RNG for round trips (not a KAT).
pub struct CountingRng(pub u8);

impl TryRng for CountingRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for d in dst.iter_mut() {
            self.0 = self.0.wrapping_mul(13).wrapping_add(7);
            *d = self.0;
        }
        Ok(())
    }
}

impl TryCryptoRng for CountingRng {}
