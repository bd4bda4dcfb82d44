//! A seeded generator and the mutations.

/// xorshift64*: small, fast and reproducible from its seed.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value, zero included).
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % n as u64).unwrap_or(0)
    }

    fn byte(&mut self) -> u8 {
        self.next_u64().to_le_bytes()[0]
    }
}

/// Bytes that often matter to the decoders: delimiters, quotes, escapes,
/// varint continuation bits, big and boundary values.
const INTERESTING: &[u8] = b"{}[]\"'=.,:\n\\#0\x7f\x80\xff\x00";

/// A mutant of a random seed, at most `max` bytes long.
pub(crate) fn mutant(rng: &mut Rng, seeds: &[Vec<u8>], max: usize) -> Vec<u8> {
    let mut input = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        mutate_once(rng, &mut input, seeds);
    }
    input.truncate(max);
    input
}

fn mutate_once(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let at = rng.below(input.len() + 1);
    match rng.below(8) {
        0 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] ^= 1 << rng.below(8);
        }
        1 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] = rng.byte();
        }
        2 => input.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
        3 if !input.is_empty() => {
            let end = (at + 1 + rng.below(16)).min(input.len());
            input.drain(at.min(end)..end);
        }
        4 => input.truncate(at),
        5 => {
            // Splice in part of another seed.
            let other = &seeds[rng.below(seeds.len())];
            let from = rng.below(other.len() + 1);
            let to = (from + rng.below(64)).min(other.len());
            input.splice(at..at, other[from..to].iter().copied());
        }
        6 if !input.is_empty() => {
            // Repeat a chunk: deep nesting, long strings.
            let from = rng.below(input.len());
            let to = (from + 1 + rng.below(8)).min(input.len());
            let chunk = input[from..to].to_vec();
            for _ in 0..rng.below(64) {
                input.splice(at..at, chunk.iter().copied());
            }
        }
        _ => {
            for _ in 0..rng.below(8) + 1 {
                input.insert(at.min(input.len()), rng.byte());
            }
        }
    }
}
