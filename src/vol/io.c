/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A libext2fs io_manager whose blocks are the decrypted data segment of a
 * LUKS volume.  ext2fs names devices by string, so each vol_crypt is
 * registered under a short generated name ("vol-io:N") that the manager's
 * open() looks up; nothing else is parsed from the name.
 */
#include "vol-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <ext2fs/ext2fs.h>

#define VOL_IO_SLOTS 64

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vol_crypt *reg[VOL_IO_SLOTS];

int vol_io_register(struct vol_crypt *c, char *name, size_t namesz)
{
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < VOL_IO_SLOTS; i++) {
		if (!reg[i]) {
			reg[i] = c;
			pthread_mutex_unlock(&reg_lock);
			snprintf(name, namesz, "vol-io:%u", i);
			return 0;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return -EMFILE;
}

static int name_slot(const char *name)
{
	if (strncmp(name, "vol-io:", 7) != 0)
		return -1;
	uint64_t v;
	if (cc_parse_u64(name + 7, &v) < 0 || v >= VOL_IO_SLOTS)
		return -1;
	return (int)v;
}

void vol_io_unregister(const char *name)
{
	int s = name_slot(name);
	if (s < 0)
		return;
	pthread_mutex_lock(&reg_lock);
	reg[s] = NULL;
	pthread_mutex_unlock(&reg_lock);
}

static errcode_t map_err(int r)
{
	if (r == 0)
		return 0;
	if (r == VOL_E_TRUNCATED || r == -EIO)
		return EXT2_ET_SHORT_READ;
	if (r > -1000)
		return (errcode_t)-r;
	return EXT2_ET_SHORT_READ;
}

/*
 * Read-only channels (opened volumes) keep a small direct-mapped cache of
 * decrypted metadata blocks: path lookups and the check read the same
 * directory and inode-table blocks again and again.  Channels opened for
 * writing (create) have none, so no invalidation is ever needed.  Used only
 * under the volume lock, like the rest of libext2fs.
 */
#define VIO_CACHE_N 128
#define VIO_CACHE_BLK 4096

struct vio {
	struct vol_crypt *c;
	bool ro;
	uint8_t *mem;                   /* VIO_CACHE_N * VIO_CACHE_BLK */
	uint64_t tag[VIO_CACHE_N];      /* byte offset + 1; 0 = empty */
	uint32_t len[VIO_CACHE_N];
};

static errcode_t vio_open(const char *name, int flags, io_channel *channel)
{
	int s = name ? name_slot(name) : -1;
	if (s < 0)
		return EXT2_ET_BAD_DEVICE_NAME;
	pthread_mutex_lock(&reg_lock);
	struct vol_crypt *c = reg[s];
	pthread_mutex_unlock(&reg_lock);
	if (!c)
		return EXT2_ET_BAD_DEVICE_NAME;
	io_channel io = calloc(1, sizeof(*io));
	if (!io)
		return EXT2_ET_NO_MEMORY;
	io->name = strdup(name);
	if (!io->name) {
		free(io);
		return EXT2_ET_NO_MEMORY;
	}
	struct vio *vp = calloc(1, sizeof(*vp));
	if (!vp) {
		free(io->name);
		free(io);
		return EXT2_ET_NO_MEMORY;
	}
	vp->c = c;
	vp->ro = !(flags & IO_FLAG_RW);
	if (vp->ro)
		vp->mem = malloc((size_t)VIO_CACHE_N * VIO_CACHE_BLK); /* NULL: no cache */
	io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	io->manager = &vol_io_manager_s;
	io->block_size = 1024;
	io->refcount = 1;
	io->private_data = vp;
	*channel = io;
	return 0;
}

static errcode_t vio_close(io_channel io)
{
	if (--io->refcount > 0)
		return 0;
	struct vio *vp = io->private_data;
	if (vp->mem) {
		explicit_bzero(vp->mem, (size_t)VIO_CACHE_N * VIO_CACHE_BLK);
		free(vp->mem);
	}
	free(vp);
	free(io->name);
	free(io);
	return 0;
}

static errcode_t vio_set_blksize(io_channel io, int blksize)
{
	if (blksize <= 0 || blksize > 65536)
		return EXT2_ET_INVALID_ARGUMENT;
	io->block_size = blksize;
	return 0;
}

static errcode_t span(io_channel io, unsigned long long block, int count,
		      size_t *len, uint64_t *off)
{
	uint64_t n = count < 0 ? (uint64_t)(-(int64_t)count)
			       : (uint64_t)count * (uint64_t)io->block_size;
	uint64_t o;
	if (__builtin_mul_overflow(block, (uint64_t)io->block_size, &o) ||
	    n > SIZE_MAX)
		return EXT2_ET_LLSEEK_FAILED;
	*len = (size_t)n;
	*off = o;
	return 0;
}

static errcode_t vio_read64(io_channel io, unsigned long long block, int count,
			    void *data)
{
	size_t len;
	uint64_t off;
	errcode_t e = span(io, block, count, &len, &off);
	if (e)
		return e;
	struct vio *vp = io->private_data;
	if (!vp->mem || len > VIO_CACHE_BLK || len == 0)
		return map_err(vol_crypt_read(vp->c, data, len, off));
	size_t i = (size_t)((off / len) % VIO_CACHE_N);
	uint8_t *slot = vp->mem + i * VIO_CACHE_BLK;
	if (vp->tag[i] == off + 1 && vp->len[i] == len) {
		memcpy(data, slot, len);
		return 0;
	}
	int r = vol_crypt_read(vp->c, slot, len, off);
	if (r) {
		vp->tag[i] = 0;
		return map_err(r);
	}
	vp->tag[i] = off + 1;
	vp->len[i] = (uint32_t)len;
	memcpy(data, slot, len);
	return 0;
}

static errcode_t vio_write64(io_channel io, unsigned long long block,
			     int count, const void *data)
{
	size_t len;
	uint64_t off;
	errcode_t e = span(io, block, count, &len, &off);
	if (e)
		return e;
	struct vio *vp = io->private_data;
	if (vp->ro)
		return EXT2_ET_RO_FILSYS;
	int r = vol_crypt_write(vp->c, data, len, off);
	if (r == VOL_E_TRUNCATED || r == -EIO)
		return EXT2_ET_SHORT_WRITE;
	return map_err(r);
}

static errcode_t vio_read(io_channel io, unsigned long block, int count,
			  void *data)
{
	return vio_read64(io, block, count, data);
}

static errcode_t vio_write(io_channel io, unsigned long block, int count,
			   const void *data)
{
	return vio_write64(io, block, count, data);
}

static errcode_t vio_write_byte(io_channel io, unsigned long offset, int size,
				const void *data)
{
	struct vio *vp = io->private_data;
	if (size < 0)
		return EXT2_ET_INVALID_ARGUMENT;
	if (vp->ro)
		return EXT2_ET_RO_FILSYS;
	int r = vol_crypt_write(vp->c, data, (size_t)size, offset);
	return map_err(r);
}

static errcode_t vio_flush(io_channel io)
{
	(void)io;
	return 0;
}

static errcode_t vio_set_option(io_channel io, const char *option,
				const char *arg)
{
	(void)io;
	(void)option;
	(void)arg;
	return EXT2_ET_INVALID_ARGUMENT;
}

static errcode_t vio_get_stats(io_channel io, io_stats *stats)
{
	(void)io;
	*stats = NULL;
	return 0;
}

static errcode_t vio_discard(io_channel io, unsigned long long block,
			     unsigned long long count)
{
	(void)io;
	(void)block;
	(void)count;
	return EXT2_ET_UNIMPLEMENTED;
}

struct struct_io_manager vol_io_manager_s = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "ccserve vol encrypted I/O",
	.open = vio_open,
	.close = vio_close,
	.set_blksize = vio_set_blksize,
	.read_blk = vio_read,
	.write_blk = vio_write,
	.flush = vio_flush,
	.write_byte = vio_write_byte,
	.set_option = vio_set_option,
	.get_stats = vio_get_stats,
	.read_blk64 = vio_read64,
	.write_blk64 = vio_write64,
	.discard = vio_discard,
};
