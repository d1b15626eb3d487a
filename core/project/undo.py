"""Undo stack: every edit is a Command with do()/undo(); consecutive commands with the same
merge id (a key drag, a slider) merge into one undo step until end_merge()."""

from __future__ import annotations

from collections.abc import Callable


class Command:
    """Base command. Subclasses implement do() and undo() so that undo() restores exactly the
    state before do(); `merge_id` (not None) lets the stack merge a following command with the
    same id via merge()."""

    text = "Edit"
    merge_id: object | None = None

    def do(self) -> None:
        raise NotImplementedError

    def undo(self) -> None:
        raise NotImplementedError

    def merge(self, other: Command) -> bool:
        """Absorb `other` (already done) into this one; return False if not possible."""
        return False


class Macro(Command):
    """Several commands as one undo step (undone in reverse order)."""

    def __init__(self, text: str, commands: list[Command]) -> None:
        self.text = text
        self.commands = list(commands)

    def do(self) -> None:
        done: list[Command] = []
        try:
            for c in self.commands:
                c.do()
                done.append(c)
        except Exception:
            for c in reversed(done):
                c.undo()
            raise

    def undo(self) -> None:
        for c in reversed(self.commands):
            c.undo()


Listener = Callable[["UndoStack"], None]


class UndoStack:
    """push(cmd) runs cmd.do() and records it. A command that raises is not recorded (and
    must leave the state unchanged)."""

    def __init__(self, limit: int = 1000) -> None:
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._clean_index: int | None = 0
        self._merge_open = False
        self._listeners: list[Listener] = []
        self.limit = int(limit)

    # --- listeners
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        self._listeners.remove(fn)

    def _notify(self) -> None:
        for fn in list(self._listeners):
            fn(self)

    # --- editing
    def push(self, cmd: Command) -> Command:
        cmd.do()
        self._undone.clear()
        top = self._done[-1] if self._done else None
        if (self._merge_open and top is not None and cmd.merge_id is not None and top.merge_id == cmd.merge_id
                and len(self._done) != self._clean_index and top.merge(cmd)):
            self._notify()
            return top
        self._done.append(cmd)
        self._merge_open = cmd.merge_id is not None
        if self._clean_index is not None and self._clean_index >= len(self._done):
            self._clean_index = None  # the clean state was in the redo branch we just dropped
        if len(self._done) > self.limit:
            drop = len(self._done) - self.limit
            del self._done[:drop]
            if self._clean_index is not None:
                self._clean_index -= drop
                if self._clean_index < 0:
                    self._clean_index = None
        self._notify()
        return cmd

    def end_merge(self) -> None:
        """Close the current merge (mouse released): the next command starts a new step."""
        self._merge_open = False

    def undo(self) -> bool:
        if not self._done:
            return False
        cmd = self._done.pop()
        cmd.undo()
        self._undone.append(cmd)
        self._merge_open = False
        self._notify()
        return True

    def redo(self) -> bool:
        if not self._undone:
            return False
        cmd = self._undone.pop()
        cmd.do()
        self._done.append(cmd)
        self._merge_open = False
        self._notify()
        return True

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self._clean_index = 0
        self._merge_open = False
        self._notify()

    # --- state
    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_text(self) -> str:
        return self._done[-1].text if self._done else ""

    @property
    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    @property
    def index(self) -> int:
        return len(self._done)

    def __len__(self) -> int:
        return len(self._done) + len(self._undone)

    def set_clean(self) -> None:
        """Mark the current state as saved."""
        self._clean_index = len(self._done)
        self._merge_open = False
        self._notify()

    @property
    def is_clean(self) -> bool:
        return self._clean_index == len(self._done)

    @property
    def is_dirty(self) -> bool:
        return not self.is_clean
