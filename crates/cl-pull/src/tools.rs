//! Where cl-list and cl-fetch are: where CL_BIN_DIR says, else beside cl-pull, on PATH, or
//! where `cargo install` and `make install` put them (cron's PATH is /usr/bin:/bin).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The places looked in, in order.
#[derive(Debug, Clone, Default)]
pub struct Places {
    /// CL_BIN_DIR: when given, the only place.
    pub bin_dir: Option<PathBuf>,
    /// The directory of cl-pull's own executable.
    pub here: Option<PathBuf>,
    /// `$PATH`.
    pub path: Option<OsString>,
    /// The home directory, for `~/.cargo/bin`.
    pub home: Option<PathBuf>,
}

impl Places {
    /// The places of this process: its executable's directory, its PATH and home.
    pub fn of_this_process(bin_dir: Option<PathBuf>) -> Places {
        let home = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
        Places {
            bin_dir,
            here: std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(Path::to_owned)),
            path: std::env::var_os("PATH"),
            home: std::env::var_os(home)
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
        }
    }

    /// The tool `name`'s executable, or, when it is nowhere, the words saying where it was
    /// looked for.
    pub fn find(&self, name: &str) -> Result<PathBuf, String> {
        let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
        if let Some(dir) = &self.bin_dir {
            let tool = dir.join(&file);
            return match is_executable(&tool) {
                true => Ok(tool),
                false => Err(dir.display().to_string()),
            };
        }
        let on_path = self.path.iter().flat_map(std::env::split_paths);
        self.here
            .iter()
            .cloned()
            .chain(on_path)
            .chain(self.fallbacks())
            .map(|dir| dir.join(&file))
            .find(|tool| is_executable(tool))
            .ok_or_else(|| self.looked())
    }

    /// Where `cargo install` and `make install` put programs.
    fn fallbacks(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self.home.iter().map(|h| h.join(".cargo/bin")).collect();
        if cfg!(unix) {
            dirs.extend(["/usr/local/bin", "/usr/bin"].map(PathBuf::from));
        }
        dirs
    }

    fn looked(&self) -> String {
        let mut places: Vec<String> = self
            .here
            .iter()
            .map(|here| format!("beside {}", here.display()))
            .collect();
        places.push("on PATH".into());
        let fallbacks: Vec<String> = self
            .fallbacks()
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        if let Some((last, first)) = fallbacks.split_last() {
            let dirs = match first {
                [] => last.clone(),
                first => format!("{} and {last}", first.join(", ")),
            };
            places.push(format!("in {dirs}"));
        }
        places.join(", ")
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_are_found_in_order_and_a_miss_says_where_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        let [here, on_path, home] = ["here", "bin", "home"].map(|d| dir.path().join(d));
        let cargo = home.join(".cargo/bin");
        for d in [&here, &on_path, &cargo] {
            std::fs::create_dir_all(d).unwrap();
        }
        let tool = |d: &Path| {
            let path = d.join(format!("cl-list{}", std::env::consts::EXE_SUFFIX));
            std::fs::write(&path, "").unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            path
        };
        let places = Places {
            bin_dir: None,
            here: Some(here.clone()),
            path: Some(std::env::join_paths([&on_path]).unwrap()),
            home: Some(home.clone()),
        };
        let missing = places.find("cl-list").unwrap_err();
        #[cfg(unix)]
        assert_eq!(
            missing,
            format!(
                "beside {}, on PATH, in {}, /usr/local/bin and /usr/bin",
                here.display(),
                cargo.display()
            )
        );
        let in_cargo = tool(&cargo);
        assert_eq!(places.find("cl-list"), Ok(in_cargo));
        let on_path_tool = tool(&on_path);
        assert_eq!(places.find("cl-list"), Ok(on_path_tool));
        let beside = tool(&here);
        assert_eq!(places.find("cl-list"), Ok(beside));
        // CL_BIN_DIR is the only place looked in when given.
        let only = Places {
            bin_dir: Some(dir.path().join("nowhere")),
            ..places.clone()
        };
        assert_eq!(
            only.find("cl-list"),
            Err(dir.path().join("nowhere").display().to_string())
        );
        #[cfg(unix)]
        {
            // Not executable: passed over.
            use std::os::unix::fs::PermissionsExt;
            let plain = here.join("cl-fetch");
            std::fs::write(&plain, "").unwrap();
            std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(places.find("cl-fetch").is_err());
        }
    }
}
