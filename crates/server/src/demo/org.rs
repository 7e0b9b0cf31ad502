//! The demo city: 1 市局, 3 分局, 10 派出所 and the people who work there.

use jsjb_core::org::{Role, Tier};

/// A unit of the demo city. `key` is also the prefix of its users' names.
pub struct UnitSpec {
    pub key: &'static str,
    pub name: &'static str,
    pub tier: Tier,
    pub parent: Option<&'static str>,
    /// The streets (街道) in the unit's area, for routing letters by place.
    pub streets: &'static [&'static str],
}

pub struct UserSpec {
    pub username: &'static str,
    pub display_name: &'static str,
    pub unit: &'static str,
    pub roles: &'static [Role],
}

pub const UNITS: &[UnitSpec] = &[
    UnitSpec {
        key: "shiju",
        name: "深圳市公安局",
        tier: Tier::City,
        parent: None,
        streets: &[],
    },
    UnitSpec {
        key: "futianfj",
        name: "福田分局",
        tier: Tier::Branch,
        parent: Some("shiju"),
        streets: &[],
    },
    UnitSpec {
        key: "nanshanfj",
        name: "南山分局",
        tier: Tier::Branch,
        parent: Some("shiju"),
        streets: &[],
    },
    UnitSpec {
        key: "luohufj",
        name: "罗湖分局",
        tier: Tier::Branch,
        parent: Some("shiju"),
        streets: &[],
    },
    UnitSpec {
        key: "futian",
        name: "福田派出所",
        tier: Tier::Station,
        parent: Some("futianfj"),
        streets: &["福田", "福保"],
    },
    UnitSpec {
        key: "huafu",
        name: "华富派出所",
        tier: Tier::Station,
        parent: Some("futianfj"),
        streets: &["华富", "华强北"],
    },
    UnitSpec {
        key: "lianhua",
        name: "莲花派出所",
        tier: Tier::Station,
        parent: Some("futianfj"),
        streets: &["莲花"],
    },
    UnitSpec {
        key: "xiangmihu",
        name: "香蜜湖派出所",
        tier: Tier::Station,
        parent: Some("futianfj"),
        streets: &["香蜜湖", "梅林"],
    },
    UnitSpec {
        key: "nanshan",
        name: "南山派出所",
        tier: Tier::Station,
        parent: Some("nanshanfj"),
        streets: &["南山", "南头"],
    },
    UnitSpec {
        key: "yuehai",
        name: "粤海派出所",
        tier: Tier::Station,
        parent: Some("nanshanfj"),
        streets: &["粤海", "科技园"],
    },
    UnitSpec {
        key: "shekou",
        name: "蛇口派出所",
        tier: Tier::Station,
        parent: Some("nanshanfj"),
        streets: &["蛇口", "招商"],
    },
    UnitSpec {
        key: "dongmen",
        name: "东门派出所",
        tier: Tier::Station,
        parent: Some("luohufj"),
        streets: &["东门", "黄贝"],
    },
    UnitSpec {
        key: "cuizhu",
        name: "翠竹派出所",
        tier: Tier::Station,
        parent: Some("luohufj"),
        streets: &["翠竹"],
    },
    UnitSpec {
        key: "guiyuan",
        name: "桂园派出所",
        tier: Tier::Station,
        parent: Some("luohufj"),
        streets: &["桂园", "南湖"],
    },
];

use Role::{Admin, Chief, Dispatcher, Officer, Supervisor};

/// Everyone in the demo. Each station has a chief and officers (the station desk is
/// its duty officers); each branch and the city have a desk, a chief and a supervisor.
pub const USERS: &[UserSpec] = &[
    UserSpec {
        username: "admin",
        display_name: "系统管理员",
        unit: "shiju",
        roles: &[Admin],
    },
    UserSpec {
        username: "shiju.zhang",
        display_name: "张建国",
        unit: "shiju",
        roles: &[Dispatcher],
    },
    UserSpec {
        username: "shiju.li",
        display_name: "李敏",
        unit: "shiju",
        roles: &[Dispatcher],
    },
    UserSpec {
        username: "shiju.chief",
        display_name: "陈志强",
        unit: "shiju",
        roles: &[Chief],
    },
    UserSpec {
        username: "shiju.wang",
        display_name: "王磊",
        unit: "shiju",
        roles: &[Supervisor],
    },
    UserSpec {
        username: "futianfj.desk",
        display_name: "赵晓东",
        unit: "futianfj",
        roles: &[Dispatcher],
    },
    UserSpec {
        username: "futianfj.chief",
        display_name: "孙建华",
        unit: "futianfj",
        roles: &[Chief],
    },
    UserSpec {
        username: "futianfj.dingban",
        display_name: "周涛",
        unit: "futianfj",
        roles: &[Supervisor],
    },
    UserSpec {
        username: "nanshanfj.desk",
        display_name: "吴静",
        unit: "nanshanfj",
        roles: &[Dispatcher],
    },
    UserSpec {
        username: "nanshanfj.chief",
        display_name: "郑国平",
        unit: "nanshanfj",
        roles: &[Chief],
    },
    UserSpec {
        username: "nanshanfj.dingban",
        display_name: "冯勇",
        unit: "nanshanfj",
        roles: &[Supervisor],
    },
    UserSpec {
        username: "luohufj.desk",
        display_name: "何丽",
        unit: "luohufj",
        roles: &[Dispatcher],
    },
    UserSpec {
        username: "luohufj.chief",
        display_name: "许明",
        unit: "luohufj",
        roles: &[Chief],
    },
    UserSpec {
        username: "luohufj.dingban",
        display_name: "邓超",
        unit: "luohufj",
        roles: &[Supervisor],
    },
    UserSpec {
        username: "futian.liu",
        display_name: "刘瑞峰",
        unit: "futian",
        roles: &[Officer],
    },
    UserSpec {
        username: "futian.huang",
        display_name: "黄思远",
        unit: "futian",
        roles: &[Officer],
    },
    UserSpec {
        username: "futian.chief",
        display_name: "林志斌",
        unit: "futian",
        roles: &[Chief],
    },
    UserSpec {
        username: "huafu.ma",
        display_name: "马军",
        unit: "huafu",
        roles: &[Officer],
    },
    UserSpec {
        username: "huafu.zhu",
        display_name: "朱娟",
        unit: "huafu",
        roles: &[Officer],
    },
    UserSpec {
        username: "huafu.chief",
        display_name: "胡刚",
        unit: "huafu",
        roles: &[Chief],
    },
    UserSpec {
        username: "lianhua.guo",
        display_name: "郭洋",
        unit: "lianhua",
        roles: &[Officer],
    },
    UserSpec {
        username: "lianhua.chen",
        display_name: "陈雨欣",
        unit: "lianhua",
        roles: &[Officer],
    },
    UserSpec {
        username: "lianhua.chief",
        display_name: "罗建军",
        unit: "lianhua",
        roles: &[Chief],
    },
    UserSpec {
        username: "xiangmihu.liang",
        display_name: "梁杰",
        unit: "xiangmihu",
        roles: &[Officer],
    },
    UserSpec {
        username: "xiangmihu.yang",
        display_name: "杨芳",
        unit: "xiangmihu",
        roles: &[Officer],
    },
    UserSpec {
        username: "xiangmihu.chief",
        display_name: "高伟",
        unit: "xiangmihu",
        roles: &[Chief],
    },
    UserSpec {
        username: "nanshan.xu",
        display_name: "徐磊",
        unit: "nanshan",
        roles: &[Officer],
    },
    UserSpec {
        username: "nanshan.he",
        display_name: "何敏",
        unit: "nanshan",
        roles: &[Officer],
    },
    UserSpec {
        username: "nanshan.chief",
        display_name: "谢国强",
        unit: "nanshan",
        roles: &[Chief],
    },
    UserSpec {
        username: "yuehai.song",
        display_name: "宋涛",
        unit: "yuehai",
        roles: &[Officer],
    },
    UserSpec {
        username: "yuehai.tang",
        display_name: "唐艳",
        unit: "yuehai",
        roles: &[Officer],
    },
    UserSpec {
        username: "yuehai.chief",
        display_name: "韩冬",
        unit: "yuehai",
        roles: &[Chief],
    },
    UserSpec {
        username: "shekou.feng",
        display_name: "冯霞",
        unit: "shekou",
        roles: &[Officer],
    },
    UserSpec {
        username: "shekou.cao",
        display_name: "曹勇",
        unit: "shekou",
        roles: &[Officer],
    },
    UserSpec {
        username: "shekou.chief",
        display_name: "彭辉",
        unit: "shekou",
        roles: &[Chief],
    },
    UserSpec {
        username: "dongmen.zeng",
        display_name: "曾强",
        unit: "dongmen",
        roles: &[Officer],
    },
    UserSpec {
        username: "dongmen.xiao",
        display_name: "肖娜",
        unit: "dongmen",
        roles: &[Officer],
    },
    UserSpec {
        username: "dongmen.chief",
        display_name: "田文",
        unit: "dongmen",
        roles: &[Chief],
    },
    UserSpec {
        username: "cuizhu.dong",
        display_name: "董桂英",
        unit: "cuizhu",
        roles: &[Officer],
    },
    UserSpec {
        username: "cuizhu.yuan",
        display_name: "袁斌",
        unit: "cuizhu",
        roles: &[Officer],
    },
    UserSpec {
        username: "cuizhu.chief",
        display_name: "潘越",
        unit: "cuizhu",
        roles: &[Chief],
    },
    UserSpec {
        username: "guiyuan.cai",
        display_name: "蔡磊",
        unit: "guiyuan",
        roles: &[Officer],
    },
    UserSpec {
        username: "guiyuan.jiang",
        display_name: "蒋丽",
        unit: "guiyuan",
        roles: &[Officer],
    },
    UserSpec {
        username: "guiyuan.chief",
        display_name: "余海",
        unit: "guiyuan",
        roles: &[Chief],
    },
    // Last, so the other demo accounts keep their ids. A signing key is activated by
    // two independent admins (dual control): `admin` and this one.
    UserSpec {
        username: "admin2",
        display_name: "安全管理员",
        unit: "shiju",
        roles: &[Admin],
    },
];

/// Every street of the demo city.
pub fn all_streets() -> Vec<&'static str> {
    UNITS
        .iter()
        .flat_map(|u| u.streets.iter().copied())
        .collect()
}

/// The station whose area holds `street`.
pub fn station_for_street(street: &str) -> Option<&'static UnitSpec> {
    UNITS.iter().find(|u| u.streets.contains(&street))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_city_has_the_promised_shape() {
        let count = |t| UNITS.iter().filter(|u| u.tier == t).count();
        assert_eq!(
            (count(Tier::City), count(Tier::Branch), count(Tier::Station)),
            (1, 3, 10)
        );
        for user in USERS {
            assert!(
                UNITS.iter().any(|u| u.key == user.unit),
                "{}",
                user.username
            );
        }
        for station in UNITS.iter().filter(|u| u.tier == Tier::Station) {
            let has = |r| {
                USERS
                    .iter()
                    .any(|u| u.unit == station.key && u.roles.contains(&r))
            };
            assert!(has(Officer) && has(Chief), "{}", station.key);
            assert!(!station.streets.is_empty());
        }
        for street in all_streets() {
            assert!(station_for_street(street).is_some());
        }
    }
}
