//! Who runs yenjob: the user name Slurm's accounting knows, and the Unix groups a
//! partition's AllowGroups is checked against.

use std::ffi::CStr;

/// The name of the user running yenjob.
pub fn current_user() -> String {
    if let Ok(u) = std::env::var("USER")
        && !u.is_empty()
    {
        return u;
    }
    // SAFETY: getpwuid returns a pointer into static storage or null; we copy the name at once.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            return CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned();
        }
    }
    "unknown".to_string()
}

/// The names of the groups this process runs with (its effective group and supplementary
/// groups, as Slurm finds the user's groups); `None` when they cannot be read.
pub fn current_groups() -> Option<Vec<String>> {
    // SAFETY: getgroups with size 0 only counts; the second call fills a buffer of that size.
    let gids = unsafe {
        let n = libc::getgroups(0, std::ptr::null_mut());
        if n < 0 {
            return None;
        }
        let mut gids = vec![0 as libc::gid_t; n as usize];
        let got = libc::getgroups(n, gids.as_mut_ptr());
        if got < 0 {
            return None;
        }
        gids.truncate(got as usize);
        gids.push(libc::getegid());
        gids
    };
    let mut names: Vec<String> = gids.into_iter().filter_map(group_name).collect();
    names.sort();
    names.dedup();
    Some(names)
}

fn group_name(gid: libc::gid_t) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: group and result live on this stack frame; getgrgid_r writes the strings into
    // buf, which outlives the copy taken below.
    unsafe {
        let mut group: libc::group = std::mem::zeroed();
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrgid_r(gid, &mut group, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc != 0 || result.is_null() || group.gr_name.is_null() {
            return None;
        }
        Some(CStr::from_ptr(group.gr_name).to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_its_own_group() {
        let groups = current_groups().expect("groups readable");
        // SAFETY: getegid cannot fail.
        let own = group_name(unsafe { libc::getegid() });
        assert!(own.is_none_or(|g| groups.contains(&g)), "{groups:?}");
    }
}
