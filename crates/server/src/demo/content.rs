//! Realistic letters for demo mode: what Shenzhen's citizens write to the 局长信箱.
//!
//! Pure: a seeded random source in, a letter draft out. The places are the streets
//! of the demo city's stations, so that routing by area has something to route on.

use jsjb_core::letter::{Category, Channel};
use rand::Rng;
use rand::seq::IndexedRandom;

/// The problem classes the demo's letters are tagged with: the server's defaults.
pub use crate::reference::DEFAULT_PROBLEM_CLASSES as PROBLEM_CLASSES;

/// A letter as a citizen wrote it, before intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterDraft {
    pub channel: Channel,
    pub category: Category,
    pub problem_tags: Vec<String>,
    pub subject: String,
    pub body: String,
    pub writer_name: String,
    pub writer_phone: String,
    /// The street the letter is about: which station's area it falls in.
    pub street: &'static str,
}

struct Template {
    category: Category,
    tag: &'static str,
    subject: &'static str,
    body: &'static str,
}

/// `{street}`, `{place}`, `{time}`, `{days}` and `{amount}` are filled in per letter.
const TEMPLATES: &[Template] = &[
    Template {
        category: Category::Complaint,
        tag: "噪音扰民",
        subject: "{street}{place}夜间噪音严重扰民",
        body: "您好！我是{street}{place}的住户。最近一个多月，楼下商铺每天晚上{time}以后还在大声播放音乐、喝酒划拳，一直闹到凌晨两三点。家里有老人和正在备考的孩子，已经严重影响休息。我们打过几次110，民警来了以后安静一会儿，走了又照旧。希望派出所能联合相关部门彻底解决，谢谢！",
    },
    Template {
        category: Category::Complaint,
        tag: "噪音扰民",
        subject: "反映{street}工地夜间违规施工",
        body: "{street}{place}旁边的工地连续{days}天夜间施工，打桩机和渣土车从晚上十点响到早上，附近几栋楼的居民都睡不好。请问夜间施工是否办理了许可？希望有关部门尽快核查处理。",
    },
    Template {
        category: Category::Help,
        tag: "电动车被盗",
        subject: "电动车在{street}{place}楼下被盗",
        body: "局长您好，我的电动自行车（黑色，雅迪牌）于{days}天前晚上{time}左右停放在{street}{place}楼下充电桩旁被盗，价值约{amount}元。已经到派出所报过案，但一直没有消息。这辆车是我每天送外卖的工具，被盗后收入受到很大影响，恳请帮忙调取监控尽快追回。",
    },
    Template {
        category: Category::Help,
        tag: "电信网络诈骗",
        subject: "被冒充客服诈骗{amount}元，请求帮助",
        body: "我于{days}天前接到自称某购物平台客服的电话，说我的订单异常需要退款，让我下载一个会议软件共享屏幕，之后我的银行卡被转走{amount}元。我已在{street}派出所报案并拿到回执，想了解案件进展，以及钱还有没有可能追回。我家住{street}{place}，电话随时可以联系。",
    },
    Template {
        category: Category::Inquiry,
        tag: "户政落户",
        subject: "咨询人才引进落户办理流程",
        body: "您好，我是今年毕业的应届研究生，已在{street}附近的公司入职，想咨询人才引进落户的具体流程：需要准备哪些材料？集体户和挂靠亲属户哪种更合适？在网上提交后大概多久能办好？之前打过{street}派出所户籍室的电话一直占线，麻烦告知，谢谢！",
    },
    Template {
        category: Category::Inquiry,
        tag: "身份证件",
        subject: "身份证丢失补办能否加急",
        body: "我的身份证{days}天前在{street}{place}附近丢失，下周需要乘飞机出差。请问在深圳补办身份证能否加急？临时身份证明在哪里开？需要本人到户籍地吗？",
    },
    Template {
        category: Category::Inquiry,
        tag: "居住证",
        subject: "居住证签注为什么一直显示审核中",
        body: "我在{street}{place}租房居住，{days}天前在网上申请了居住证签注，到现在还显示审核中，孩子下个月要办理入学积分，非常着急。请问是什么原因，需要补充什么材料？",
    },
    Template {
        category: Category::Inquiry,
        tag: "出入境",
        subject: "港澳通行证续签预约不到号",
        body: "您好，我需要续签港澳通行证，在{street}附近的出入境办证大厅连续{days}天都预约不到号。请问有没有其他办理渠道，或者自助签注机可以办吗？",
    },
    Template {
        category: Category::Complaint,
        tag: "违章停车",
        subject: "{street}{place}门口长期乱停车堵塞消防通道",
        body: "{street}{place}门口的消防通道每天晚上都被私家车占用，有时候连救护车都开不进来。小区物业说管不了，打12345也没有解决。希望交警和派出所能加强巡查，安装禁停标志，必要时拖车处理。",
    },
    Template {
        category: Category::Suggestion,
        tag: "交通违法",
        subject: "建议在{street}{place}路口增设电子警察",
        body: "{street}{place}路口早晚高峰经常有车辆闯红灯、电动车逆行，上个月还发生过一起电动车与行人的事故。建议在该路口增设电子抓拍设备，并在上下学时段安排警力疏导，保障孩子们的安全。",
    },
    Template {
        category: Category::Complaint,
        tag: "治安隐患",
        subject: "{street}{place}附近有人深夜聚集滋事",
        body: "最近{days}天，每天晚上{time}以后，{street}{place}附近的小公园都有一群年轻人聚集喝酒，还骑摩托车飙车、大声喧哗，居民晚上不敢出门。希望派出所加强夜间巡逻。",
    },
    Template {
        category: Category::Help,
        tag: "邻里纠纷",
        subject: "楼上漏水多次协商无果请求调解",
        body: "我家住在{street}{place}，楼上住户卫生间漏水已经{days}天，导致我家天花板发霉脱落。多次上门协商，对方拒不维修，物业也调解不了。请问派出所能否帮忙组织调解？",
    },
    Template {
        category: Category::Help,
        tag: "寻求帮助",
        subject: "老人走失请求帮助寻找",
        body: "我父亲今年七十八岁，有轻度老年痴呆，今天下午{time}左右从{street}{place}家中出门后一直没有回来，穿深蓝色外套、灰色裤子。家人已经找了几个小时，恳请派出所帮忙查看周边监控，万分感谢！",
    },
    Template {
        category: Category::Complaint,
        tag: "养犬管理",
        subject: "{street}{place}有人遛狗不拴绳",
        body: "{street}{place}小区里经常有业主遛大型犬不拴绳，上周我家孩子被狗追赶摔伤。跟狗主人沟通反而被骂。请问养犬管理归哪个部门？希望民警能上门宣传教育并依法处理。",
    },
    Template {
        category: Category::Complaint,
        tag: "非法营运",
        subject: "{street}地铁站口黑车非法拉客",
        body: "{street}地铁站B出口每天晚上都有十几辆无牌摩托车和黑车拉客，占用人行道，还经常和乘客发生争执，存在很大安全隐患。希望有关部门整治。",
    },
    Template {
        category: Category::Suggestion,
        tag: "办事效率",
        subject: "建议户籍窗口增加周末服务时间",
        body: "{street}派出所户籍窗口只在工作日办理业务，上班族请假很不方便。建议周六上午也能开放，或者增加网上办理的业务种类。谢谢局长！",
    },
    Template {
        category: Category::Complaint,
        tag: "执法态度",
        subject: "反映办事民警态度生硬",
        body: "{days}天前我到{street}派出所办理证明，窗口工作人员态度比较生硬，材料要求也没有一次性告知，让我跑了三趟。希望加强窗口服务规范，一次性告知办事所需材料。",
    },
    Template {
        category: Category::Thanks,
        tag: "表扬感谢",
        subject: "感谢{street}派出所民警帮我找回钱包",
        body: "{days}天前我在{street}{place}附近丢失了钱包，里面有证件和现金{amount}元。{street}派出所的民警调取监控，当天就帮我找回来了，还亲自送到我家。特此写信表示衷心感谢，为人民警察点赞！",
    },
    Template {
        category: Category::Thanks,
        tag: "表扬感谢",
        subject: "感谢民警深夜护送走失老人回家",
        body: "感谢{street}派出所的值班民警！我母亲那天晚上在{place}附近迷路，民警耐心安抚，联系到我们家属后又亲自送她回家。你们辛苦了，谢谢！",
    },
];

const PLACES: &[&str] = &[
    "幸福花园",
    "东方名苑",
    "阳光小区",
    "海滨广场",
    "万科城",
    "翠海花园",
    "星河世纪",
    "金地名津",
    "华强广场",
    "百花苑",
    "碧海湾",
    "景田北",
];

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "梁",
];

const GIVEN_NAMES: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建华", "晓东", "思远", "雨欣",
];

const MOBILE_PREFIXES: &[&str] = &[
    "138", "139", "135", "137", "150", "152", "158", "186", "188", "189", "177", "199",
];

/// Writes one letter about a street of the demo city.
pub fn draft(
    rng: &mut impl Rng,
    streets: &[&'static str],
    category: Option<Category>,
) -> LetterDraft {
    let candidates: Vec<&Template> = TEMPLATES
        .iter()
        .filter(|t| category.is_none_or(|c| c == t.category))
        .collect();
    // TEMPLATES holds every category, so the filtered list is never empty; fall back
    // to the first template all the same rather than panic.
    let template = candidates.choose(rng).copied().unwrap_or(&TEMPLATES[0]);
    let street = streets.choose(rng).copied().unwrap_or("福田");
    let place = PLACES.choose(rng).copied().unwrap_or("幸福花园");
    let time = format!("{}点", rng.random_range(8..12));
    let days = rng.random_range(2..20).to_string();
    let amount = (rng.random_range(8..400) * 100).to_string();
    let fill = |s: &str| {
        s.replace("{street}", street)
            .replace("{place}", place)
            .replace("{time}", &time)
            .replace("{days}", &days)
            .replace("{amount}", &amount)
    };
    let channel = match rng.random_range(0..100) {
        0..45 => Channel::Web,
        45..75 => Channel::Wechat,
        75..90 => Channel::Weibo,
        _ => Channel::Phone,
    };
    let surname = SURNAMES.choose(rng).copied().unwrap_or("王");
    let given = GIVEN_NAMES.choose(rng).copied().unwrap_or("伟");
    let prefix = MOBILE_PREFIXES.choose(rng).copied().unwrap_or("138");
    LetterDraft {
        channel,
        category: template.category,
        problem_tags: vec![template.tag.to_owned()],
        subject: fill(template.subject),
        body: fill(template.body),
        writer_name: format!("{surname}{given}"),
        writer_phone: format!("{prefix}{:08}", rng.random_range(0..100_000_000u32)),
        street,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn drafts_are_filled_in_and_deterministic() {
        let streets = ["福田", "华富"];
        let mut a = StdRng::seed_from_u64(7);
        let mut b = StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let d = draft(&mut a, &streets, None);
            assert_eq!(d, draft(&mut b, &streets, None));
            assert!(!d.subject.contains('{') && !d.body.contains('{'), "{d:?}");
            assert!(d.subject.chars().count() <= 100);
            assert_eq!(d.writer_phone.len(), 11);
            assert!(PROBLEM_CLASSES.contains(&d.problem_tags[0].as_str()));
        }
        let thanks = draft(&mut a, &streets, Some(Category::Thanks));
        assert_eq!(thanks.category, Category::Thanks);
    }

    #[test]
    fn every_category_has_a_template() {
        for c in Category::ALL {
            assert!(TEMPLATES.iter().any(|t| t.category == *c), "{c:?}");
        }
    }
}
