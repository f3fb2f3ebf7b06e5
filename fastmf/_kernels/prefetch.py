"""A software prefetch of one factor row, for kernels whose next rows are known ahead.

The Hogwild SGD kernels visit the entries of a block in random order, so the rows of
``U`` and ``V`` an entry touches are scattered: each is a cache miss that the hardware
prefetcher cannot guess. The entry a few positions ahead is known, and asking for its rows
early overlaps those misses with the current updates (LibMF's FPSGD does the same). The
first pass of WALS-CG over a block of rows likewise gathers rows of the fixed factors that
are not in cache (the item side's user rows span far more than L2), and knows the next
ones from the block's column indices. A prefetch is only a hint: it changes no value.
"""

from llvmlite import ir
from numba.core import cgutils, config, types
from numba.extending import intrinsic

# Cache lines asked for per row at most (rows longer than this are prefetched in part).
_MAX_LINES = 16
_LINE = 64


def _prefetch_row_python(arr, i):
    """Without the JIT (``NUMBA_DISABLE_JIT``, the kernels' Python twins) a prefetch is a
    no-op: it changes no value either way."""


def _make_prefetch(write):
    """An intrinsic prefetching (for writing, or for reading only) into all cache levels the
    cache lines of row ``i`` of the C-contiguous 2-d array ``arr``."""

    def prefetch(typingctx, arr, i):
        if not (isinstance(arr, types.Array) and arr.ndim == 2
                and isinstance(i, types.Integer)):
            return None

        def codegen(context, builder, sig, args):
            aryty = sig.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            idx = context.cast(builder, args[1], sig.args[1], types.intp)
            zero = context.get_constant(types.intp, 0)
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [idx, zero])
            i8p = ir.IntType(8).as_pointer()
            base = builder.bitcast(ptr, i8p)
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
            width = cgutils.unpack_tuple(builder, ary.shape, 2)[1]
            itemsize = context.get_abi_sizeof(context.get_data_type(aryty.dtype))
            nbytes = builder.mul(width, context.get_constant(types.intp, itemsize))
            for line in range(_MAX_LINES):
                off = context.get_constant(types.intp, _LINE * line)
                with builder.if_then(builder.icmp_signed("<", off, nbytes), likely=True):
                    # llvm.prefetch(address, rw, locality = 3 (keep), cache = 1 (data))
                    builder.call(fn, [builder.gep(base, [off]), ir.Constant(i32, int(write)),
                                      ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(arr, i), codegen

    prefetch.__name__ = "_prefetch_row" if write else "_prefetch_row_read"
    return intrinsic(prefetch)


#: Prefetch a row about to be updated (SGD).
_prefetch_row = _make_prefetch(write=True)
#: Prefetch a row about to be read (the gathers of the WALS kernels).
_prefetch_row_read = _make_prefetch(write=False)


if config.DISABLE_JIT:
    # an intrinsic cannot run as Python
    _prefetch_row = _prefetch_row_read = _prefetch_row_python
