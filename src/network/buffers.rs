//! Flink's buffer model over the channels' byte budgets.
//!
//! Flink moves data in buffers of one size (the segment size, 32 KiB by default). Each input
//! channel owns `exclusive` buffers and each input gate (a task's input from one upstream
//! operator) has `floating` buffers its channels share; a sender fills one buffer per
//! channel at a time. The model here keeps the channels' credit in bytes:
//!
//! - A record takes its bytes of a buffer: records smaller than a buffer share it, as Flink's
//!   serializer packs them, and a larger one spans buffers. A channel's credit is therefore
//!   its number of buffers times the buffer size, in bytes, not a number of messages.
//! - A gate's floating buffers are split evenly and statically over its channels; when they
//!   do not divide, the first channels take one more. (Flink hands a floating buffer to a
//!   channel with a backlog that asks for one; under the steady back-pressure debloating is
//!   about every channel has a backlog, and a static share costs nothing per message.)
//! - The sender's output queue holds one buffer per channel: the one it is filling. Beyond
//!   that, data waits for the receiver's credit.
//! - Debloating changes the buffer size, never the number of buffers: a new size changes
//!   both budgets of the gate's channels, in bytes. Data already queued stays; a channel
//!   above its new credit sends nothing until the receiver has consumed below it.

/// A channel's buffers: how many on each side, and the size they are cut at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelBuffers {
    /// Buffers of the receiver for this channel (exclusive plus its share of the floating).
    pub input: u64,
    /// Buffers of the sender's output queue.
    pub output: u64,
}

impl ChannelBuffers {
    /// The `index`th of a gate's `channels` channels, with `exclusive` buffers each and
    /// `floating` shared by the gate.
    pub fn in_gate(exclusive: u32, floating: u32, channels: usize, index: usize) -> Self {
        let n = channels.max(1) as u64;
        let floating = u64::from(floating);
        let share = floating / n + u64::from((index as u64) < floating % n);
        ChannelBuffers {
            input: u64::from(exclusive) + share,
            output: 1,
        }
    }

    /// The receiver's credit in bytes with buffers of `size` bytes (at least one byte).
    pub fn in_capacity(&self, size: u64) -> u64 {
        self.input.max(1).saturating_mul(size.max(1))
    }

    /// The sender's output queue in bytes with buffers of `size` bytes.
    pub fn out_capacity(&self, size: u64) -> u64 {
        self.output.max(1).saturating_mul(size.max(1))
    }
}

/// Buffers that hold `bytes`, rounded up: the buffers in use of a channel holding that much.
pub fn buffers_for(bytes: u64, size: u64) -> u64 {
    bytes.div_ceil(size.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floating_buffers_are_shared_evenly_the_first_channels_taking_the_rest() {
        let shares: Vec<u64> = (0..3)
            .map(|i| ChannelBuffers::in_gate(2, 8, 3, i).input)
            .collect();
        assert_eq!(
            shares,
            vec![5, 5, 4],
            "2 exclusive + 8 floating over 3 channels"
        );
        let total: u64 = (0..4)
            .map(|i| ChannelBuffers::in_gate(2, 8, 4, i).input)
            .sum();
        assert_eq!(total, 4 * 2 + 8);
        assert_eq!(ChannelBuffers::in_gate(0, 1, 2, 1).input, 0);
    }

    #[test]
    fn credit_is_buffers_times_size_in_bytes() {
        let b = ChannelBuffers::in_gate(2, 8, 4, 0);
        assert_eq!(b.in_capacity(32 * 1024), 4 * 32 * 1024);
        assert_eq!(b.out_capacity(256), 256);
        // A channel left without buffers still has one, or nothing would ever move.
        assert_eq!(ChannelBuffers::in_gate(0, 1, 2, 1).in_capacity(100), 100);
        assert_eq!(buffers_for(0, 256), 0);
        assert_eq!(buffers_for(257, 256), 2);
    }
}
