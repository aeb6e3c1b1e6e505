"""Peak resident memory of a process, for the memory benchmarks."""

from __future__ import annotations

import threading

import psutil


class RssSampler(threading.Thread):
    """The peak RSS of a process, sampled every `interval` seconds until stopped."""

    def __init__(self, process: psutil.Process, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            self.samples += 1
            self._stop_event.wait(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak
