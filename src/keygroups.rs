//! Flink's key groups: which key group a key falls in, which subtask owns a key group, and the
//! range of key groups each subtask owns (Flink's `KeyGroupRangeAssignment`).
//!
//! A keyed exchange routes a record by its key group, not by `key mod parallelism`: the key
//! groups are the unit keyed state is checkpointed and redistributed in, so that state can be
//! restored with another parallelism. All of it is integer arithmetic, exactly as Flink does it.
//! snapsim's keys are Flink `Long`s: a key's `hashCode` is Java's `Long.hashCode`, which for
//! keys below 2^31 is the key itself.

/// The largest max parallelism Flink accepts (`KeyGroupRangeAssignment.UPPER_BOUND_MAX_PARALLELISM`).
pub const UPPER_BOUND_MAX_PARALLELISM: u32 = 1 << 15;

/// The smallest default max parallelism.
const DEFAULT_LOWER_BOUND_MAX_PARALLELISM: u32 = 1 << 7;

/// Java's `Long.hashCode`: the two halves of the 64-bit value xor-ed together.
pub fn java_long_hash(key: u64) -> i32 {
    (key ^ (key >> 32)) as u32 as i32
}

/// Flink's `MathUtils.murmurHash`: one round of Murmur3 over an `int`, its finalising mix,
/// then the absolute value (`Integer.MIN_VALUE` becoming 0).
pub fn murmur_hash(code: i32) -> i32 {
    let mut h = (code as u32).wrapping_mul(0xcc9e_2d51);
    h = h.rotate_left(15);
    h = h.wrapping_mul(0x1b87_3593);
    h = h.rotate_left(13);
    h = h.wrapping_mul(5).wrapping_add(0xe654_6b64);
    h ^= 4;
    h = bit_mix(h);
    let signed = h as i32;
    if signed >= 0 {
        signed
    } else if signed != i32::MIN {
        -signed
    } else {
        0
    }
}

/// Murmur3's finalising mix (Flink's `MathUtils.bitMix`).
fn bit_mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// The key group of `key` among `max_parallelism` (Flink's `assignToKeyGroup`).
#[inline]
pub fn key_group(key: u64, max_parallelism: u32) -> u32 {
    murmur_hash(java_long_hash(key)) as u32 % max_parallelism
}

/// The subtask, of `parallelism`, that owns `key_group` (Flink's
/// `computeOperatorIndexForKeyGroup`).
#[inline]
pub fn operator_index(key_group: u32, max_parallelism: u32, parallelism: u32) -> u32 {
    (u64::from(key_group) * u64::from(parallelism) / u64::from(max_parallelism)) as u32
}

/// The subtask, of `parallelism`, that owns `key`. Every record of a keyed exchange asks, so
/// a max parallelism that is a power of two (Flink's default always is) takes a mask and a
/// shift instead of two divisions; the answer is the same.
#[inline]
pub fn subtask_of(key: u64, max_parallelism: u32, parallelism: u32) -> u32 {
    let m = max_parallelism;
    if m & m.wrapping_sub(1) == 0 {
        let group = murmur_hash(java_long_hash(key)) as u32 & (m - 1);
        ((u64::from(group) * u64::from(parallelism)) >> m.trailing_zeros()) as u32
    } else {
        operator_index(key_group(key, m), m, parallelism)
    }
}

/// The key groups subtask `index` of `parallelism` owns, first and last inclusive (Flink's
/// `computeKeyGroupRangeForOperatorIndex`); empty (`first > last`) when there are more
/// subtasks than key groups.
pub fn range(index: u32, max_parallelism: u32, parallelism: u32) -> (u32, u32) {
    let (i, m, p) = (
        u64::from(index),
        u64::from(max_parallelism),
        u64::from(parallelism),
    );
    let first = (i * m).div_ceil(p);
    let last = ((i + 1) * m - 1) / p;
    (first as u32, last as u32)
}

/// The max parallelism Flink picks when none is set (`computeDefaultMaxParallelism`): one and
/// a half times the parallelism rounded up to a power of two, at least 128 and at most 32768.
pub fn default_max_parallelism(parallelism: u32) -> u32 {
    let wanted = parallelism.saturating_add(parallelism / 2);
    wanted
        .checked_next_power_of_two()
        .unwrap_or(UPPER_BOUND_MAX_PARALLELISM)
        .clamp(
            DEFAULT_LOWER_BOUND_MAX_PARALLELISM,
            UPPER_BOUND_MAX_PARALLELISM,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_keys_fall_in_flinks_key_groups() {
        // Flink's KeyGroupRangeAssignment for Integer keys 0, 1, 2, 4, 9 at max parallelism 128.
        let groups: Vec<u32> = [0, 1, 2, 4, 9].iter().map(|&k| key_group(k, 128)).collect();
        assert_eq!(groups, vec![94, 86, 127, 7, 51]);
        // A Long's hash folds its halves: 2^32 + 5 hashes as 5 ^ 1 = 4.
        assert_eq!(key_group((1 << 32) + 5, 128), key_group(4, 128));
        assert_eq!(murmur_hash(i32::MIN), murmur_hash(i32::MIN).abs());
    }

    #[test]
    fn subtasks_own_contiguous_ranges_that_cover_every_group() {
        let ranges = |p| (0..p).map(|i| range(i, 128, p)).collect::<Vec<_>>();
        assert_eq!(ranges(4), vec![(0, 31), (32, 63), (64, 95), (96, 127)]);
        assert_eq!(ranges(3), vec![(0, 42), (43, 85), (86, 127)]);
        // Key 1 (group 86) belongs to subtask 2 at both parallelisms.
        assert_eq!(subtask_of(1, 128, 4), 2);
        assert_eq!(subtask_of(1, 128, 3), 2);
        // The owner of every group is the subtask whose range holds it.
        for p in [1, 2, 3, 4, 5, 7, 128] {
            for kg in 0..128 {
                let (first, last) = range(operator_index(kg, 128, p), 128, p);
                assert!((first..=last).contains(&kg), "p {p} group {kg}");
            }
        }
    }

    #[test]
    fn the_power_of_two_shortcut_agrees_with_flinks_formula() {
        for m in [1, 2, 128, 256, 32768] {
            for p in [1, 3, 4, 7, m] {
                for key in (0..2000).chain([u64::MAX, 1 << 40, (1 << 31) + 3]) {
                    let slow = operator_index(key_group(key, m), m, p);
                    assert_eq!(subtask_of(key, m, p), slow, "key {key} m {m} p {p}");
                }
            }
        }
    }

    #[test]
    fn the_default_max_parallelism_follows_flinks_rule() {
        for (p, want) in [
            (1, 128),
            (85, 128),
            (86, 256),
            (171, 256),
            (172, 512),
            (341, 512),
            (684, 2048),
            (1365, 2048),
            (10924, 32768),
            (u32::MAX, 32768),
        ] {
            assert_eq!(default_max_parallelism(p), want, "parallelism {p}");
        }
    }
}
