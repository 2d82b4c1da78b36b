"""Crash-safe file writes: a reader, or a crash at any instant, sees the old file or
the new one, never half of one, and no temporary file is left behind.

Every file harness writes for a user (cassettes, goldens, converted scenarios) goes
through :func:`write_atomic`. Pure standard library; nothing else here.

How a write goes (the invariants hold whatever instant the process is killed at):

1. **Linux: an unnamed file.** ``O_TMPFILE`` opens a file in the target's folder that
   has no name: if the process dies while writing it, the kernel frees it and nothing
   is left on disk. The data is written and ``fsync``\\ed while it has no name.
2. **A name, then the rename.** To replace ``path``, the file is linked to a temporary
   name (``linkat`` through ``/proc/self/fd``) and renamed over ``path``
   (``os.replace``, atomic on one file system). Only between those two system calls
   does a named temporary file exist. Create-only writes skip the temporary name
   altogether: the unnamed file is linked straight to ``path``, which fails if
   ``path`` exists, so an existing file is never replaced and there is no window.
3. **Elsewhere** (another OS, a file system without ``O_TMPFILE``, no ``/proc``), the
   file is created under the temporary name from the start, then renamed (replace)
   or hard-linked to ``path`` (create-only; ``os.link`` never replaces) and unlinked.
4. **Then** the folder is ``fsync``\\ed, so the rename itself survives a power cut.

Temporary names are recognizable: ``.{name}.harness-tmp-{pid}-{random}``. While a
writer holds one, it holds an exclusive ``flock`` on the file. Before writing, every
writer sweeps the folder it writes to: a temporary file whose pid is not running
and whose lock is free belongs to a writer that was killed, and is removed. So a
kill inside the window of step 2 (or anywhere in step 3) leaves a temporary file
only until the next write to that folder. A temporary file of a live process (or of
a recycled pid, or one still locked from another pid namespace) is left alone.

File modes: a new file gets the ordinary mode for the user's umask (``0o666 &
~umask``, as ``open(path, "w")`` would, not ``mkstemp``'s ``0o600``); a replaced
file keeps its mode.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import sys
from pathlib import Path

__all__ = ["TEMP_MARK", "is_temp_name", "sweep_stale_temps", "write_atomic"]

#: What every temporary file name holds: ``.{name}.harness-tmp-{pid}-{random}``.
TEMP_MARK = ".harness-tmp-"

_TEMP_NAME = re.compile(r"\..*\.harness-tmp-(?P<pid>[0-9]+)-[0-9a-f]{8}", re.DOTALL)
#: The target's name is shortened (to this many bytes) in the temporary name, so that
#: it stays under NAME_MAX (255 bytes) whatever the target's name.
_NAME_ROOM = 100

#: ``O_TMPFILE`` where the platform defines it (Linux); 0 elsewhere.
_O_TMPFILE: int = getattr(os, "O_TMPFILE", 0)
_O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)

if sys.platform != "win32":
    import fcntl

    def _lock(fd: int) -> bool:
        """Take an exclusive lock on ``fd`` without waiting; whether it was taken."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

else:  # pragma: no cover - harness runs on POSIX; kept importable elsewhere

    def _lock(fd: int) -> bool:
        return True


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file name of :func:`write_atomic`."""
    return _TEMP_NAME.fullmatch(name) is not None


def write_atomic(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` atomically and durably.

    Creates missing parent folders and sweeps stale temporary files from the folder
    first (:func:`sweep_stale_temps`).

    Args:
        path: the file to write.
        data: its whole new content.
        overwrite: replace an existing file (keeping its mode). When false, the
            write fails if ``path`` exists, even if it appears while writing: an
            existing file is never replaced or modified.

    Raises:
        FileExistsError: ``overwrite`` is false and ``path`` exists.
        OSError: the file cannot be written; ``path`` is left as it was and no
            temporary file is left.
    """
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        # A file where a folder should be: not "the target exists".
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder)) from None
    sweep_stale_temps(folder)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    mode = _mode_for(path) if overwrite else None
    if not _write_unnamed(path, data, overwrite=overwrite, mode=mode):
        _write_named(path, data, overwrite=overwrite, mode=mode)
    _fsync_folder(folder)


def _mode_for(path: Path) -> int | None:
    """The mode of the file being replaced, or ``None`` for a new file."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


def _temp_path(path: Path) -> Path:
    # Cut in bytes (a cut multi-byte character round-trips through surrogateescape).
    name = os.fsdecode(os.fsencode(path.name)[:_NAME_ROOM])
    return path.with_name(f".{name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


def _write_all(fd: int, data: bytes, mode: int | None) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    if mode is not None:
        os.fchmod(fd, mode)
    os.fsync(fd)


def _write_unnamed(path: Path, data: bytes, *, overwrite: bool, mode: int | None) -> bool:
    """The ``O_TMPFILE`` route; ``False`` when the platform or file system has none
    (nothing was written then, and the named route should be taken)."""
    if not _O_TMPFILE:
        return False
    try:
        folder = os.open(path.parent, os.O_RDONLY | _O_CLOEXEC | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return False
    try:
        fd = os.open(path.parent, _O_TMPFILE | os.O_WRONLY | _O_CLOEXEC, 0o666)
    except OSError:
        # EISDIR (a kernel without O_TMPFILE), EOPNOTSUPP (a file system without it),
        # or a real problem, which the named route reports in its own words.
        os.close(folder)
        return False
    try:
        _lock(fd)  # held until closed: a sweeper never takes this file for a dead one's
        _write_all(fd, data, mode)
        # linkat(AT_SYMLINK_FOLLOW) through /proc names the open file. A dir fd is
        # passed so that Python calls linkat: without one, os.link calls link(2),
        # which does not follow the /proc symlink and fails with EXDEV.
        source = f"/proc/self/fd/{fd}"
        if not overwrite:
            # Linked straight to its final name: fails if the target exists, so
            # nothing is ever replaced, and no temporary name exists at any moment.
            try:
                os.link(source, path.name, dst_dir_fd=folder, follow_symlinks=True)
            except FileExistsError:
                raise
            except OSError:
                return False  # no /proc, or no hard links: the named route
            return True
        temp = _temp_path(path)
        try:
            os.link(source, temp.name, dst_dir_fd=folder, follow_symlinks=True)
        except OSError:
            return False
        # The only window with a named temporary file: from the link above to the
        # rename below. A kill in it leaves `temp`, which the next write sweeps.
        try:
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return True
    finally:
        os.close(fd)
        os.close(folder)


def _write_named(path: Path, data: bytes, *, overwrite: bool, mode: int | None) -> None:
    """The portable route: a named, locked temporary file, then rename or link."""
    temp = _temp_path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_NOFOLLOW
    fd = os.open(temp, flags, 0o666)  # the umask applies, as for any new file
    try:
        _lock(fd)
        _write_all(fd, data, mode)
        if overwrite:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)  # never replaces: EEXIST if `path` exists
            except FileExistsError:
                raise
            except OSError:  # a file system without hard links
                if os.path.lexists(path):
                    raise FileExistsError(
                        errno.EEXIST, os.strerror(errno.EEXIST), str(path)
                    ) from None
                os.replace(temp, path)
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def sweep_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that killed writers left in ``folder``.

    A file is removed when its name is a temporary name of :func:`write_atomic`, the
    pid in it is not a running process, and nobody holds its lock. Files of live
    pids, other files and subfolders are never touched. Errors are ignored (a
    folder that cannot be listed is simply not swept). Does nothing where there are
    no POSIX signals to ask about a pid.

    Returns:
        the files removed.
    """
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) would kill on Windows
        return []
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None or _alive(int(match["pid"])):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | _O_CLOEXEC | _O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            # Open and unlocked: no process holds it, in this pid namespace or another.
            if stat.S_ISREG(os.fstat(fd).st_mode) and _lock(fd):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process (or a number no process can have)
    return True


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where a folder can be opened (POSIX).

    Not needed for atomicity, and impossible on some platforms, so failures are
    ignored.
    """
    try:
        fd = os.open(folder, os.O_RDONLY | _O_CLOEXEC)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
