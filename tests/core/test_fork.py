from __future__ import annotations

import gc
import os
import threading
import weakref

from stalwart.core import reset_after_fork


class _Resettable:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.resets = 0
        reset_after_fork(self)

    def _after_fork_in_child(self) -> None:
        self.lock = threading.Lock()
        self.resets += 1


class _Broken:
    def _after_fork_in_child(self) -> None:
        raise RuntimeError("this hook fails")


def _exit_code_of_child(check: object) -> int:
    """Fork; in the child run ``check`` (a callable returning a bool) and exit 0 if it is true."""
    assert callable(check)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if check() else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_child_gets_a_fresh_lock_even_if_the_parent_held_it_at_fork() -> None:
    obj = _Resettable()
    obj.lock.acquire()  # as if another thread were inside it at the moment of fork
    try:
        assert 0 == _exit_code_of_child(lambda: obj.lock.acquire(timeout=5) and obj.resets == 1)
    finally:
        obj.lock.release()
    assert 0 == obj.resets  # the parent's object is untouched


def test_one_failing_hook_does_not_skip_the_others() -> None:
    broken = _Broken()
    reset_after_fork(broken)
    first, second = _Resettable(), _Resettable()
    assert 0 == _exit_code_of_child(lambda: first.resets == 1 and second.resets == 1)
    del broken


def test_registration_does_not_keep_objects_alive() -> None:
    obj = _Resettable()
    ref = weakref.ref(obj)
    del obj
    gc.collect()
    assert ref() is None
