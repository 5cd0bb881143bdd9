#ifndef C_ALMANAC_WRITEBACK_H
#define C_ALMANAC_WRITEBACK_H

/// Starts writing back `count` bytes of `fd` at `offset` without waiting (Linux's sync_file_range
/// with SYNC_FILE_RANGE_WRITE, which Swift's Glibc module does not export); elsewhere it does
/// nothing. Returns 0, or -1 with errno set.
int almanac_start_writeback(int fd, long long offset, long long count);

#endif
