//! A blocked Bloom filter over 128-bit ids (record ids, UUIDs): "certainly not here" for almost
//! every id that is not, with one cache miss. Used where a store or a ledger must know whether it
//! has seen an id without a lookup for each new one: `spend eval`'s spilled ledger, and the
//! embedded reward store's index of stored ids.

/// Where an id falls in a [`Bloom`] filter: computed once per lookup, then tried on each filter.
#[derive(Clone, Copy)]
pub struct Probe {
    /// Picks the block.
    block: u64,
    /// Seven 9-bit positions inside the block.
    bits: u64,
}

impl Probe {
    pub fn of(key: u128) -> Self {
        // Ids may be sequential, so both halves are mixed.
        let (hi, lo) = ((key >> 64) as u64, key as u64);
        let block = mix(lo ^ mix(hi));
        Self {
            block,
            bits: mix(block ^ hi),
        }
    }
}

/// A blocked Bloom filter over ids: each id sets 7 bits in one 512-bit block (one cache line),
/// ~10 bits an id, so a lookup costs one cache miss; ~1-2 % false positives.
pub struct Bloom {
    blocks: Vec<Block>,
}

/// 512 bits on one cache line.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Block([u64; 8]);

impl Bloom {
    const PROBES: u32 = 7;

    pub fn new(ids: usize) -> Self {
        Self {
            blocks: vec![Block([0; 8]); (ids.max(1) * 10).div_ceil(512)],
        }
    }

    /// The ids this filter was sized for.
    pub fn capacity(&self) -> usize {
        self.blocks.len() * 512 / 10
    }

    /// `p.block` mapped onto the blocks by multiply-shift: uniform, and no power-of-two sizing.
    fn block(&self, p: Probe) -> usize {
        ((u128::from(p.block) * self.blocks.len() as u128) >> 64) as usize
    }

    fn positions(p: Probe) -> impl Iterator<Item = (usize, u64)> {
        (0..Self::PROBES).map(move |i| {
            let bit = (p.bits >> (9 * i)) & 511;
            ((bit / 64) as usize, 1 << (bit % 64))
        })
    }

    pub fn insert(&mut self, p: Probe) {
        let at = self.block(p);
        let block = &mut self.blocks[at];
        for (word, bit) in Self::positions(p) {
            block.0[word] |= bit;
        }
    }

    pub fn may_contain(&self, p: Probe) -> bool {
        let block = &self.blocks[self.block(p)];
        Self::positions(p).all(|(word, bit)| block.0[word] & bit != 0)
    }
}

/// SplitMix64's finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut bloom = Bloom::new(10_000);
        for k in 0..10_000u128 {
            bloom.insert(Probe::of(k));
        }
        assert!((0..10_000u128).all(|k| bloom.may_contain(Probe::of(k))));
        let false_positives = (10_000..110_000u128)
            .filter(|&k| bloom.may_contain(Probe::of(k)))
            .count();
        // 10 bits per id, 7 probes in one block: ~1-2 %.
        assert!(false_positives < 3_000, "{false_positives} of 100,000");
    }
}
