package scripts

import (
	"os"
	"syscall"
)

func statUID(fi os.FileInfo) int {
	if fi == nil {
		return -1
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
