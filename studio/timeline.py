"""Timeline and transport: ruler with keys and in/out, play / J-K-L shuttle, step, jump to key,
frame field and timecode. Emits frameRequested(frame); the window routes it to the session.
"""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QToolButton, QVBoxLayout, QWidget

from core.media.playback import RateMeter, playback_frame


def timecode(frame: int, fps: Fraction, start: str | None = None) -> str:
    """SMPTE HH:MM:SS:FF of plate frame `frame` (non-drop; rounded nominal rate; `start` offset)."""
    rate = max(1, round(float(fps))) if fps else 25
    offset = 0
    if start:
        try:
            h, m, s, f = (int(p) for p in start.replace(";", ":").split(":"))
            offset = ((h * 60 + m) * 60 + s) * rate + f
        except ValueError:
            offset = 0
    total = int(frame) + offset
    f = total % rate
    s = total // rate
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{f:02d}"


class Ruler(QWidget):
    """Frame ruler: click/drag to scrub; shows the in/out range, key ticks and the cursor."""

    scrubbed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(28)
        self.first, self.last = 0, 100
        self.frame = 0
        self.in_out: tuple[int, int] | None = None
        self.keys = np.zeros(0, np.int64)
        self.setCursor(Qt.PointingHandCursor)

    def set_range(self, first: int, last: int) -> None:
        self.first, self.last = int(first), max(int(last), int(first) + 1)
        self.update()

    def _x(self, frame: float) -> float:
        w = max(self.width() - 16, 1)
        return 8 + (frame - self.first) / (self.last - self.first) * w

    def _frame_at(self, x: float) -> int:
        w = max(self.width() - 16, 1)
        return int(round(self.first + (x - 8) / w * (self.last - self.first)))

    def paintEvent(self, _ev) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#1d1d1d"))
        h = self.height()
        if self.in_out:
            a, b = self._x(self.in_out[0]), self._x(self.in_out[1])
            p.fillRect(QRectF(a, 0, max(b - a, 1), h), QColor(232, 145, 45, 40))
        span = self.last - self.first
        step = max(1, 10 ** int(np.log10(max(span / 8, 1))))
        if span / step > 20:
            step *= 5 if span / (step * 5) > 4 else 2
        p.setPen(QPen(QColor("#5a5a5a")))
        f0 = self.first - self.first % step
        for f in range(f0, self.last + 1, step):
            x = self._x(f)
            p.drawLine(int(x), h - 8, int(x), h)
            p.drawText(int(x) + 2, h - 10, str(f))
        p.setPen(QPen(QColor("#e8d36a")))
        for k in self.keys:
            x = int(self._x(int(k)))
            p.drawLine(x, 2, x, 8)
        p.setPen(QPen(QColor("#e8912d"), 2))
        x = int(self._x(self.frame))
        p.drawLine(x, 0, x, h)
        p.end()

    def mousePressEvent(self, ev) -> None:  # noqa: N802
        self.scrubbed.emit(min(max(self._frame_at(ev.position().x()), self.first), self.last))

    def mouseMoveEvent(self, ev) -> None:  # noqa: N802
        if ev.buttons() & Qt.LeftButton:
            self.scrubbed.emit(min(max(self._frame_at(ev.position().x()), self.first), self.last))


class Transport(QWidget):
    """Transport bar + ruler. Playback follows the clock at the plate rate (J/K/L shuttle
    doubles speed per press): a QTimer ticks at least once per frame and each tick asks for the
    frame due by the wall time since play started, so frames are dropped, never slowed down,
    when drawing cannot keep up; the speed label shows the rate achieved. frameRequested
    carries every frame change."""

    frameRequested = Signal(int)
    jumpKey = Signal(int)  # -1 previous key, +1 next key

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fps = Fraction(25)
        self.tc_start: str | None = None
        self.first, self.last = 0, 0
        self.frame = 0
        self.speed = 0  # frames per tick sign*magnitude; 0 stopped
        self.in_point: int | None = None
        self.out_point: int | None = None
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._clock: tuple[float, int] | None = None  # (wall time, frame) playback counts from
        self._meter = RateMeter()
        self._label_at = 0.0
        self._clock_frame: int | None = None  # the last frame the clock asked for
        self.achieved_fps: float | None = None  # frames shown per second while playing
        self.times: np.ndarray | None = None  # a VFR plate's own frame times (core.media.playback.plate_times)

        def btn(text: str, tip: str, slot) -> QToolButton:
            b = QToolButton(text=text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            b.setAutoRaise(True)
            return b

        self.btn_start = btn("|◀", "Go to in point / first frame (Ctrl+Left)", self.go_start)
        self.btn_prev_key = btn("◀◆", "Previous key ( , )", lambda: self.jumpKey.emit(-1))
        self.btn_back = btn("◀|", "Step back one frame (Left)", lambda: self.step(-1))
        self.btn_play_rev = btn("◀", "Play backwards (J)", lambda: self.shuttle(-1))
        self.btn_stop = btn("■", "Stop (K)", self.stop)
        self.btn_play = btn("▶", "Play (L / Space)", lambda: self.shuttle(1))
        self.btn_fwd = btn("|▶", "Step forward one frame (Right)", lambda: self.step(1))
        self.btn_next_key = btn("◆▶", "Next key ( . )", lambda: self.jumpKey.emit(1))
        self.btn_end = btn("▶|", "Go to out point / last frame (Ctrl+Right)", self.go_end)
        self.btn_in = btn("[", "Set in point (I); Alt+X clears in and out", self.set_in)
        self.btn_out = btn("]", "Set out point (O); Alt+X clears in and out", self.set_out)
        self.frame_box = QSpinBox()
        self.frame_box.setRange(0, 0)
        self.frame_box.setToolTip("Current plate frame (0-based)")
        self.frame_box.setKeyboardTracking(False)
        self.frame_box.valueChanged.connect(self.frameRequested.emit)
        self.tc = QLabel("00:00:00:00")
        self.tc.setObjectName("timecode")
        self.speed_label = QLabel("")
        self.speed_label.setObjectName("dim")
        self.ruler = Ruler()
        self.ruler.scrubbed.connect(self.frameRequested.emit)

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        for w in (self.btn_start, self.btn_prev_key, self.btn_back, self.btn_play_rev, self.btn_stop, self.btn_play,
                  self.btn_fwd, self.btn_next_key, self.btn_end):
            bar.addWidget(w)
        bar.addSpacing(12)
        bar.addWidget(self.btn_in)
        bar.addWidget(self.btn_out)
        bar.addStretch(1)
        bar.addWidget(self.speed_label)
        bar.addWidget(QLabel("Frame"))
        bar.addWidget(self.frame_box)
        bar.addWidget(self.tc)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.ruler)
        lay.addLayout(bar)

    def set_range(self, first: int, last: int, fps: Fraction, tc_start: str | None = None) -> None:
        """Frames first..last (inclusive) at `fps`; timecode starts at `tc_start`. In and out
        points belong to the range they were set in: another range (another shot) clears them."""
        if (int(first), int(last)) != (self.first, self.last):
            self.clear_in_out()
        self.first, self.last = int(first), int(last)
        self.fps = Fraction(fps) if fps else Fraction(25)
        self.tc_start = tc_start
        self.frame_box.blockSignals(True)
        self.frame_box.setRange(self.first, self.last)
        self.frame_box.blockSignals(False)
        self.ruler.set_range(self.first, self.last)

    def set_keys(self, frames: np.ndarray) -> None:
        self.ruler.keys = np.asarray(frames, np.int64)
        self.ruler.update()

    def show_frame(self, frame: int) -> None:
        """Reflect the session's current frame (no signal back). During playback a frame
        chosen elsewhere (a scrub, a jump) becomes where the clock counts from."""
        self.frame = int(frame)
        if self._clock is not None and self.frame != self._clock_frame:
            self._clock = (time.perf_counter(), self.frame)
            self._clock_frame = self.frame
        self.frame_box.blockSignals(True)
        self.frame_box.setValue(self.frame)
        self.frame_box.blockSignals(False)
        self.tc.setText(timecode(self.frame, self.fps, self.tc_start))
        self.ruler.frame = self.frame
        self.ruler.update()

    # --- actions --------------------------------------------------------------------------
    def _bounds(self) -> tuple[int, int]:
        a = self.in_point if self.in_point is not None else self.first
        b = self.out_point if self.out_point is not None else self.last
        return a, b

    def step(self, d: int) -> None:
        self.stop()
        self.frameRequested.emit(min(max(self.frame + d, self.first), self.last))

    def go_start(self) -> None:
        self.stop()
        self.frameRequested.emit(self._bounds()[0])

    def go_end(self) -> None:
        self.stop()
        self.frameRequested.emit(self._bounds()[1])

    def set_in(self) -> None:
        self.in_point = self.frame
        if self.out_point is not None and self.out_point < self.in_point:
            self.out_point = None
        self._update_in_out()

    def set_out(self) -> None:
        self.out_point = self.frame
        if self.in_point is not None and self.in_point > self.out_point:
            self.in_point = None
        self._update_in_out()

    def clear_in_out(self) -> None:
        """Play and go-to use the whole range again."""
        self.in_point = self.out_point = None
        self._update_in_out()

    def _update_in_out(self) -> None:
        self.ruler.in_out = self._bounds() if (self.in_point is not None or self.out_point is not None) else None
        self.ruler.update()

    def shuttle(self, direction: int) -> None:
        """J/L: start playing that way; pressing again doubles the speed (up to 8x)."""
        if self.speed == 0 or (self.speed > 0) != (direction > 0):
            self.speed = direction
        else:
            self.speed = direction * min(abs(self.speed) * 2, 8)
        self._clock = (time.perf_counter(), self.frame)
        self._clock_frame = self.frame
        self._meter.reset()
        self.achieved_fps = None
        self.speed_label.setText(f"{self.speed:+d}x")
        # tick at twice the frame rate: a late tick then costs at most half a frame of latency
        self._timer.start(max(1, int(500 / (float(self.fps) * abs(self.speed)))))

    def toggle_play(self) -> None:
        if self.speed:
            self.stop()
        else:
            self.shuttle(1)

    def stop(self) -> None:
        self.speed = 0
        self._timer.stop()
        self._clock = None
        self.speed_label.setText("")

    @property
    def playing(self) -> bool:
        return self.speed != 0

    def _tick(self) -> None:
        """Ask for the frame the clock has reached (none when it is still the current one)."""
        if self._clock is None:
            return
        now = time.perf_counter()
        a, b = self._bounds()
        t0, f0 = self._clock
        if not a <= f0 <= b:  # started outside the in/out range: play from its start
            f0 = a if self.speed > 0 else b
            self._clock = (now, f0)
        nxt = playback_frame(f0, now - t0, float(self.fps), self.speed, a, b, self.times)
        if nxt == self.frame:
            return
        self._meter.add(now)
        self._clock_frame = nxt  # before the emit: show_frame(nxt) comes back during it
        self.frameRequested.emit(nxt)
        if now - self._label_at > 0.5:
            self._label_at = now
            self.achieved_fps = self._meter.fps()
            if self.achieved_fps is not None:
                self.speed_label.setText(f"{self.speed:+d}x  {self.achieved_fps:.1f} fps / {float(self.fps):g}")
