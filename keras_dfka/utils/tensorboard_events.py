"""TensorBoard event files without TensorFlow: a writer and summary values.

`keras.callbacks.TensorBoard` needs TensorFlow; these write the same files
with `tensorboard`'s protocol buffers and pure-Python record writer, so they
work the same under every Keras backend.
"""

import itertools
import os
import socket
import time

import numpy as np

HISTOGRAM_EDGES = np.linspace(0.0, 1.0, 41)
_WRITER_IDS = itertools.count()


class EventFileWriter:
    """A synchronous TensorBoard event-file writer that needs no TensorFlow.

    It writes `Event` protocol buffers (from `tensorboard.compat.proto`) as
    TFRecords with `tensorboard`'s pure-Python `RecordWriter`, so it works the
    same under every Keras backend (`keras.callbacks.TensorBoard` needs
    TensorFlow). Every `write()` goes straight to the file; `flush()` pushes it
    to disk.

    Args:
        log_dir: the directory of the new event file (created if needed).
    """

    def __init__(self, log_dir):
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        os.makedirs(log_dir, exist_ok=True)
        self._event_pb2 = event_pb2
        self.path = os.path.join(
            log_dir,
            f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
            f"{os.getpid()}.{next(_WRITER_IDS):06d}.keras_dfka",
        )
        self._file = open(self.path, "wb")
        self._records = RecordWriter(self._file)
        self._add(
            event_pb2.Event(
                wall_time=time.time(),
                file_version="brain.Event:2",
                source_metadata=event_pb2.SourceMetadata(
                    writer="keras_dfka.callbacks.AmalgamationMonitor"
                ),
            )
        )
        self.flush()

    @property
    def closed(self):
        return self._file.closed

    def _add(self, event):
        self._records.write(event.SerializeToString())

    def write(self, step, values):
        """Writes one event holding the `Summary.Value` protos `values`."""
        from tensorboard.compat.proto import summary_pb2

        self._add(
            self._event_pb2.Event(
                wall_time=time.time(),
                step=int(step),
                summary=summary_pb2.Summary(value=list(values)),
            )
        )

    def flush(self):
        self._file.flush()

    def close(self):
        if not self._file.closed:
            self._file.flush()
            self._file.close()


def scalar_value(tag, value):
    """A scalar `Summary.Value` (shown in TensorBoard's Scalars tab)."""
    from tensorboard.compat.proto import summary_pb2

    return summary_pb2.Summary.Value(tag=tag, simple_value=float(value))


def image_value(tag, png_bytes, height, width, channels):
    """An image `Summary.Value` from PNG-encoded bytes (Images tab)."""
    from tensorboard.compat.proto import summary_pb2

    image = summary_pb2.Summary.Image(
        height=int(height),
        width=int(width),
        colorspace=int(channels),
        encoded_image_string=png_bytes,
    )
    return summary_pb2.Summary.Value(tag=tag, image=image)


def histogram_value(tag, values, edges=HISTOGRAM_EDGES):
    """A histogram `Summary.Value` of `values` over the bins `edges`.

    `bucket_limit[i]` is the right edge of bin `i` (TensorBoard's legacy
    `HistogramProto`, shown in the Histograms and Distributions tabs).
    """
    from tensorboard.compat.proto import summary_pb2

    values = np.asarray(values, dtype="float64").ravel()
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
    histogram = summary_pb2.HistogramProto(
        min=float(values.min()),
        max=float(values.max()),
        num=float(values.size),
        sum=float(values.sum()),
        sum_squares=float(np.sum(values**2)),
        bucket_limit=[float(e) for e in edges[1:]],
        bucket=[float(c) for c in counts],
    )
    return summary_pb2.Summary.Value(tag=tag, histo=histogram)
