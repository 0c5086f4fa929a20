//! Channels between tasks: messages, latency models, bandwidth and credit-based flow control.
//!
//! A channel is directed and reliable. Messages wait in three places: the sender's output queue
//! (bounded: a full one stops the sender), the wire (messages in transit, each with its arrival
//! time), and the receiver's input queue. Data may leave the output queue only while the
//! receiver has credit: the bytes on the wire plus the bytes in the input queue stay within the
//! input capacity, as in Flink's credit-based network stack. A receiver that stops consuming
//! therefore fills its input queue, then the sender's output queue, and then stops the sender:
//! that is back-pressure.
//!
//! Control messages (snapshot markers, barriers, end of input) need no credit, as Flink's events
//! need none, but stay in FIFO order with the data unless sent with priority. The network does
//! not interpret them.

pub mod buffers;
mod channel;
pub mod debloat;
mod latency;
mod pool;

pub use channel::{Channel, ChannelConfig, Pumped};
pub use latency::Latency;
pub use pool::MessagePool;

use crate::engine::Time;

/// Index of a task (process) in the topology.
pub type TaskId = u32;
/// Index of a channel in the topology.
pub type ChannelId = u32;

/// What a message carries, as far as the network cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MsgKind {
    /// An application record or transfer; needs credit.
    Data = 0,
    /// A protocol message (marker, barrier, cancellation); opaque to the network.
    Control = 1,
    /// The sender will send nothing more on this channel.
    EndOfInput = 2,
}

/// Where a data record came from: the source task and the record's offset in its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Origin {
    /// Source task index.
    pub source: TaskId,
    /// Offset in the source's replayable log.
    pub offset: u64,
}

/// One message on a channel. Its unique id is (channel, `seq`); the sender is the channel's
/// source task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// Per-channel sequence number, assigned by the channel when the message is sent.
    pub seq: u64,
    /// When the message reaches the receiver (set when it goes on the wire).
    pub arrive_at: Time,
    /// When the record was created at its source (for end-to-end latency).
    pub created_at: Time,
    /// Key of a record; id of a snapshot for control messages.
    pub num: u64,
    /// Value of a record or amount of a transfer.
    pub value: i64,
    /// The record's origin (data only).
    pub origin: Origin,
    /// Size on the wire.
    pub bytes: u32,
    /// Data, control or end of input.
    pub kind: MsgKind,
    /// Protocol-defined tag of a control message; 0 for data.
    pub tag: u8,
    /// A priority message overtakes queued data at both ends (unaligned barriers).
    pub priority: bool,
}

impl Message {
    /// A data message.
    pub fn data(bytes: u32, num: u64, value: i64, origin: Origin, created_at: Time) -> Self {
        Message {
            seq: 0,
            arrive_at: 0,
            created_at,
            num,
            value,
            origin,
            bytes,
            kind: MsgKind::Data,
            tag: 0,
            priority: false,
        }
    }

    /// A control message with a protocol-defined `tag` and number (usually a snapshot id).
    pub fn control(tag: u8, num: u64, bytes: u32, priority: bool) -> Self {
        Message {
            seq: 0,
            arrive_at: 0,
            created_at: 0,
            num,
            value: 0,
            origin: Origin::default(),
            bytes,
            kind: MsgKind::Control,
            tag,
            priority,
        }
    }

    /// The end-of-input signal.
    pub fn end_of_input() -> Self {
        Message {
            kind: MsgKind::EndOfInput,
            ..Message::control(0, 0, 0, false)
        }
    }

    /// True for application data.
    #[inline]
    pub fn is_data(&self) -> bool {
        self.kind == MsgKind::Data
    }
}
